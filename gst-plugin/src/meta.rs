//! The `meta` property (a `GstStructure`, as webrtcsink's) and the JSON
//! object the room protocol carries it as (`join`'s `meta`, relayed to the
//! other members as `member-meta`).

use gst::glib;
use gst::prelude::*;
use rtcgate_core::signalling::Meta;
use serde_json::Value;

/// The JSON object for `meta`'s fields: strings, booleans, integers and
/// floating-point numbers as themselves, nested structures as objects,
/// arrays and lists as JSON arrays, anything else as its serialized text.
pub(crate) fn to_json(meta: &gst::StructureRef) -> Meta {
    meta.iter()
        .map(|(name, value)| (name.to_string(), value_to_json(value)))
        .collect()
}

fn value_to_json(value: &glib::Value) -> Value {
    if let Ok(s) = value.get::<String>() {
        return Value::from(s);
    }
    if let Ok(b) = value.get::<bool>() {
        return Value::from(b);
    }
    if let Ok(i) = value.get::<i32>() {
        return Value::from(i);
    }
    if let Ok(i) = value.get::<u32>() {
        return Value::from(i);
    }
    if let Ok(i) = value.get::<i64>() {
        return Value::from(i);
    }
    if let Ok(i) = value.get::<u64>() {
        return Value::from(i);
    }
    if let Ok(f) = value.get::<f64>() {
        return Value::from(f);
    }
    if let Ok(s) = value.get::<gst::Structure>() {
        return Value::Object(to_json(&s));
    }
    if let Ok(a) = value.get::<gst::Array>() {
        return Value::Array(a.iter().map(|v| value_to_json(v)).collect());
    }
    if let Ok(l) = value.get::<gst::List>() {
        return Value::Array(l.iter().map(|v| value_to_json(v)).collect());
    }
    value
        .serialize()
        .map(|s| Value::from(s.as_str()))
        .unwrap_or(Value::Null)
}

/// A `meta` structure for another member's JSON object: integers as `gint`
/// when they fit (as gst-launch parses `n=3`), else `gint64`/`guint64`,
/// objects as nested structures, arrays as `GstArray`; `null`s are left out.
pub(crate) fn from_json(meta: &Meta) -> gst::Structure {
    let mut s = gst::Structure::new_empty("meta");
    for (key, value) in meta {
        if let Some(value) = json_to_value(value) {
            s.set_value(key.as_str(), value);
        }
    }
    s
}

fn json_to_value(value: &Value) -> Option<glib::SendValue> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => b.to_send_value(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => match i32::try_from(i) {
                Ok(i) => i.to_send_value(),
                Err(_) => i.to_send_value(),
            },
            (None, Some(u)) => u.to_send_value(),
            _ => n.as_f64().unwrap_or_default().to_send_value(),
        },
        Value::String(s) => s.to_send_value(),
        Value::Array(items) => {
            gst::Array::new(items.iter().filter_map(json_to_value)).to_send_value()
        }
        Value::Object(object) => from_json(object).to_send_value(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_json() {
        gst::init().unwrap();
        let meta = gst::Structure::builder("meta")
            .field("camera", "front")
            .field("index", 3i32)
            .field("big", 10_000_000_000i64)
            .field("gain", 0.5f64)
            .field("on", true)
            .field(
                "inner",
                gst::Structure::builder("inner").field("a", 1i32).build(),
            )
            .field("tags", gst::Array::new(["a", "b"]))
            .build();
        let json = to_json(&meta);
        assert_eq!(json["camera"], "front");
        assert_eq!(json["index"], 3);
        assert_eq!(json["big"], 10_000_000_000i64);
        assert_eq!(json["gain"], 0.5);
        assert_eq!(json["on"], true);
        assert_eq!(json["inner"]["a"], 1);
        assert_eq!(json["tags"], serde_json::json!(["a", "b"]));
        let back = from_json(&json);
        assert_eq!(back.get::<String>("camera").unwrap(), "front");
        assert_eq!(back.get::<i32>("index").unwrap(), 3);
        assert_eq!(back.get::<i64>("big").unwrap(), 10_000_000_000);
        assert_eq!(back.get::<f64>("gain").unwrap(), 0.5);
        assert!(back.get::<bool>("on").unwrap());
        assert_eq!(
            back.get::<gst::Structure>("inner")
                .unwrap()
                .get::<i32>("a")
                .unwrap(),
            1
        );
        assert_eq!(back.get::<gst::Array>("tags").unwrap().len(), 2);
    }
}
