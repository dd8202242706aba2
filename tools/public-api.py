#!/usr/bin/env python3
"""Lists the public API of a crate from rustdoc's JSON output, one item per
line, sorted: what `core/public-api.txt` holds, so that every change to the
API of rtcgate-core shows up in review as a change to that file.

    tools/public-api.sh             # rewrites core/public-api.txt
    tools/public-api.sh --check     # fails when it is out of date (CI)

This script only renders; `tools/public-api.sh` makes the JSON (stable
rustdoc with RUSTC_BOOTSTRAP=1, format version checked below). Each line is
an item reachable from outside the crate, by its public path:

    pub fn rtcgate_core::Call::leave(&self) -> ...
    pub struct rtcgate_core::CallOptions
    pub rtcgate_core::CallOptions::ice_servers: Vec<rtcgate_core::IceServer>
    impl core::default::Default for rtcgate_core::CallOptions

Blanket impls (`impl<T> From<T> for T`, …) are left out: they come with every
type. Auto-trait impls (Send, Sync, Unpin, …) are listed: losing one breaks
callers.

Usage: public-api.py CRATE.json > public-api.txt
"""
import json
import sys

# Format versions this renderer was written against (rustdoc-types' numbering).
SUPPORTED = {57}

doc = json.load(open(sys.argv[1]))
if doc["format_version"] not in SUPPORTED:
    sys.exit(
        f"public-api.py: rustdoc JSON format {doc['format_version']} is not one of "
        f"{sorted(SUPPORTED)}: check the renderer against the new format and add it"
    )
index = doc["index"]
paths = doc["paths"]
root = doc["root"]
crate_name = index[str(root)]["name"]


def path_of(id_):
    """The canonical path of an item of any crate, as rustdoc knows it."""
    entry = paths.get(str(id_))
    return "::".join(entry["path"]) if entry else None


# ---- types ------------------------------------------------------------------


def generic_args(args):
    if not args:
        return ""
    if "angle_bracketed" in args:
        ab = args["angle_bracketed"]
        parts = []
        for a in ab.get("args", []):
            if "lifetime" in a:
                parts.append(a["lifetime"])
            elif "type" in a:
                parts.append(ty(a["type"]))
            elif "const" in a:
                parts.append(a["const"].get("expr", "_"))
            else:
                parts.append("_")
        for c in ab.get("constraints", []):
            binding = c.get("binding", {})
            if "equality" in binding:
                eq = binding["equality"]
                value = ty(eq["type"]) if "type" in eq else eq.get("constant", {}).get("expr", "_")
                parts.append(f"{c['name']} = {value}")
            elif "constraint" in binding:
                parts.append(f"{c['name']}: " + " + ".join(bound(b) for b in binding["constraint"]))
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in args:
        p = args["parenthesized"]
        out = "(" + ", ".join(ty(t) for t in p["inputs"]) + ")"
        if p.get("output"):
            out += " -> " + ty(p["output"])
        return out
    if args == "return_type_notation":
        return "(..)"
    return ""


def resolved(p):
    name = path_of(p["id"]) or p["path"]
    return name + generic_args(p.get("args"))


def bound(b):
    if "trait_bound" in b:
        tb = b["trait_bound"]
        modifier = {"none": "", "maybe": "?", "maybe_const": "~const "}.get(tb.get("modifier", "none"), "")
        hrtb = ""
        if tb.get("generic_params"):
            hrtb = "for<" + ", ".join(gp["name"] for gp in tb["generic_params"]) + "> "
        return modifier + hrtb + resolved(tb["trait"])
    if "outlives" in b:
        return b["outlives"]
    if "use" in b:
        return "use<" + ", ".join(str(u) for u in b["use"]) + ">"
    return "?"


def ty(t):
    if t is None:
        return "()"
    kind, v = next(iter(t.items()))
    if kind == "resolved_path":
        return resolved(v)
    if kind == "dyn_trait":
        parts = [resolved(tr["trait"]) for tr in v["traits"]]
        if v.get("lifetime"):
            parts.append(v["lifetime"])
        return "dyn " + " + ".join(parts)
    if kind == "generic":
        return v
    if kind == "primitive":
        return v
    if kind == "function_pointer":
        sig = v["sig"]
        inputs = ", ".join(ty(i[1]) for i in sig["inputs"])
        out = f" -> {ty(sig['output'])}" if sig.get("output") else ""
        return f"fn({inputs}){out}"
    if kind == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if kind == "slice":
        return f"[{ty(v)}]"
    if kind == "array":
        return f"[{ty(v['type'])}; {v['len']}]"
    if kind == "impl_trait":
        return "impl " + " + ".join(bound(b) for b in v)
    if kind == "infer":
        return "_"
    if kind == "raw_pointer":
        return ("*mut " if v["is_mutable"] else "*const ") + ty(v["type"])
    if kind == "borrowed_ref":
        lt = (v["lifetime"] + " ") if v.get("lifetime") else ""
        return "&" + lt + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if kind == "qualified_path":
        trait = resolved(v["trait"]) if v.get("trait") else None
        self_ty = ty(v["self_type"])
        base = f"<{self_ty} as {trait}>" if trait else self_ty
        return f"{base}::{v['name']}" + generic_args(v.get("args"))
    if kind == "pat":
        return ty(v["type"])
    return f"<{kind}>"


def generics(g, with_where=True):
    params = []
    for p in g.get("params", []):
        kind = p["kind"]
        if "lifetime" in kind:
            params.append(p["name"])
        elif "type" in kind:
            if kind["type"].get("is_synthetic"):
                continue  # `impl Trait` arguments show in the signature
            b = kind["type"].get("bounds", [])
            params.append(p["name"] + (": " + " + ".join(bound(x) for x in b) if b else ""))
        elif "const" in kind:
            params.append(f"const {p['name']}: {ty(kind['const']['type'])}")
    head = "<" + ", ".join(params) + ">" if params else ""
    where = ""
    if with_where and g.get("where_predicates"):
        preds = []
        for w in g["where_predicates"]:
            if "bound_predicate" in w:
                bp = w["bound_predicate"]
                preds.append(ty(bp["type"]) + ": " + " + ".join(bound(b) for b in bp["bounds"]))
            elif "lifetime_predicate" in w:
                lp = w["lifetime_predicate"]
                preds.append(lp["lifetime"] + ": " + " + ".join(lp["outlives"]))
            elif "eq_predicate" in w:
                ep = w["eq_predicate"]
                preds.append(ty(ep["lhs"]) + " = " + (ty(ep["rhs"]["type"]) if "type" in ep["rhs"] else "_"))
        where = " where " + ", ".join(preds)
    return head, where


def fn_sig(name, f):
    sig = f["sig"]
    head, where = generics(f["generics"])
    args = []
    for arg_name, arg_ty in sig["inputs"]:
        if arg_name == "self":
            rendered = ty(arg_ty)
            args.append({"Self": "self", "&Self": "&self", "&mut Self": "&mut self"}.get(rendered, f"self: {rendered}"))
        else:
            args.append(f"{arg_name}: {ty(arg_ty)}")
    quals = []
    header = f["header"]
    if header.get("is_const"):
        quals.append("const")
    if header.get("is_async"):
        quals.append("async")
    if header.get("is_unsafe"):
        quals.append("unsafe")
    abi = header.get("abi")
    if abi and abi != "Rust":
        quals.append(f'extern "{abi if isinstance(abi, str) else next(iter(abi))}"')
    out = f" -> {ty(sig['output'])}" if sig.get("output") else ""
    return " ".join(quals + ["fn"]) + f" {name}{head}({', '.join(args)}){out}{where}"


# ---- walking the public items ---------------------------------------------------

lines = set()


def item(id_):
    return index.get(str(id_))


def visibility_public(it):
    return it.get("visibility") == "public"


def emit(line):
    lines.add(line)


def walk_impl(impl_id, owner_path):
    impl = item(impl_id)["inner"]["impl"]
    if impl.get("blanket_impl") is not None:
        return
    head, where = generics(impl["generics"])
    self_ty = ty(impl["for"])
    negative = "!" if impl.get("is_negative") else ""
    unsafe_ = "unsafe " if impl.get("is_unsafe") else ""
    if impl.get("trait"):
        trait = resolved(impl["trait"])
        emit(f"{unsafe_}impl{head} {negative}{trait} for {self_ty}{where}")
        # Items of a trait impl are the trait's: listing the impl is enough,
        # except associated types, which callers name.
        for sub in impl["items"]:
            it = item(sub)
            if it and "assoc_type" in it["inner"] and it["inner"]["assoc_type"].get("type"):
                emit(f"type {owner_path}::{it['name']} = {ty(it['inner']['assoc_type']['type'])} ({trait})")
        return
    for sub in impl["items"]:
        it = item(sub)
        if not it or not visibility_public(it):
            continue
        walk_member(it, owner_path)


def walk_member(it, owner_path):
    inner = it["inner"]
    name = it["name"]
    path = f"{owner_path}::{name}"
    deprecated = " #[deprecated]" if it.get("deprecation") else ""
    if "function" in inner:
        emit(f"pub {fn_sig(path, inner['function'])}{deprecated}")
    elif "constant" in inner:
        emit(f"pub const {path}: {ty(inner['constant']['type'])}")
    elif "assoc_const" in inner:
        emit(f"pub const {path}: {ty(inner['assoc_const']['type'])}")
    elif "assoc_type" in inner:
        emit(f"pub type {path}")


def struct_fields(st, path):
    kind = st["kind"]
    if "plain" in kind:
        for f in kind["plain"]["fields"]:
            fi = item(f)
            if fi and visibility_public(fi):
                emit(f"pub {path}::{fi['name']}: {ty(fi['inner']['struct_field'])}")
        if kind["plain"].get("has_stripped_fields"):
            emit(f"{path} has private fields")
    elif "tuple" in kind:
        for i, f in enumerate(kind["tuple"]):
            fi = item(f) if f is not None else None
            if fi and visibility_public(fi):
                emit(f"pub {path}::{i}: {ty(fi['inner']['struct_field'])}")


def attrs(it):
    shown = []
    for a in it.get("attrs", []):
        text = a if isinstance(a, str) else json.dumps(a)
        if "non_exhaustive" in text:
            shown.append("#[non_exhaustive]")
    return (" ".join(shown) + " ") if shown else ""


def walk(id_, path, seen):
    it = item(id_)
    if it is None or id_ in seen:
        return
    inner = it["inner"]
    kind = next(iter(inner))
    if kind == "module":
        seen = seen | {id_}
        emit(f"pub mod {path}")
        for child in inner["module"]["items"]:
            c = item(child)
            if c is None or not visibility_public(c):
                continue
            if "use" in c["inner"]:
                use = c["inner"]["use"]
                target = use.get("id")
                if use.get("is_glob"):
                    t = item(target)
                    if t and "module" in t["inner"]:
                        for gc in t["inner"]["module"]["items"]:
                            g = item(gc)
                            if g and visibility_public(g) and g.get("name"):
                                walk(gc, f"{path}::{g['name']}", seen)
                    continue
                if target is not None and item(target) is not None:
                    walk(target, f"{path}::{use['name']}", seen)
                else:
                    emit(f"pub use {path}::{use['name']} = {use['source']}")
                continue
            if c.get("name"):
                walk(child, f"{path}::{c['name']}", seen)
        return
    a = attrs(it)
    if kind == "struct":
        st = inner["struct"]
        head, where = generics(st["generics"])
        emit(f"{a}pub struct {path}{head}{where}")
        struct_fields(st, path)
        for impl in st["impls"]:
            walk_impl(impl, path)
    elif kind == "enum":
        en = inner["enum"]
        head, where = generics(en["generics"])
        emit(f"{a}pub enum {path}{head}{where}")
        for v in en["variants"]:
            vi = item(v)
            vkind = vi["inner"]["variant"]["kind"]
            vpath = f"{path}::{vi['name']}"
            if vkind == "plain":
                emit(f"pub {vpath}")
            elif "tuple" in vkind:
                tys = [ty(item(f)["inner"]["struct_field"]) if f is not None else "_" for f in vkind["tuple"]]
                emit(f"pub {vpath}({', '.join(tys)})")
            elif "struct" in vkind:
                emit(f"pub {vpath}")
                for f in vkind["struct"]["fields"]:
                    fi = item(f)
                    emit(f"pub {vpath}::{fi['name']}: {ty(fi['inner']['struct_field'])}")
        for impl in en["impls"]:
            walk_impl(impl, path)
    elif kind == "union":
        emit(f"pub union {path}")
    elif kind == "function":
        emit(f"pub {fn_sig(path, inner['function'])}")
    elif kind == "trait":
        tr = inner["trait"]
        head, where = generics(tr["generics"])
        supertraits = " + ".join(bound(b) for b in tr.get("bounds", []))
        unsafe_ = "unsafe " if tr.get("is_unsafe") else ""
        emit(f"pub {unsafe_}trait {path}{head}" + (f": {supertraits}" if supertraits else "") + where)
        for sub in tr["items"]:
            si = item(sub)
            if si:
                walk_member(si, path)
        for impl in tr.get("implementations", []):
            ii = item(impl)
            if ii and ii["inner"]["impl"].get("blanket_impl") is None:
                emit(f"impl {path} for {ty(ii['inner']['impl']['for'])}")
    elif kind == "type_alias":
        ta = inner["type_alias"]
        head, _ = generics(ta["generics"], with_where=False)
        emit(f"pub type {path}{head} = {ty(ta['type'])}")
    elif kind == "constant":
        emit(f"pub const {path}: {ty(inner['constant']['type'])}")
    elif kind == "static":
        emit(f"pub static {path}: {ty(inner['static']['type'])}")
    elif kind == "macro":
        emit(f"pub macro {path}!")
    else:
        emit(f"pub {kind} {path}")


walk(root, crate_name, frozenset())
for line in sorted(lines):
    print(line)
