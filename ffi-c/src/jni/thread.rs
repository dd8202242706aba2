//! Attaching library threads to the JVM once, for their whole life.
//!
//! A thread that calls into Java must be attached to the JVM. Attaching is
//! expensive (the JVM makes a `java.lang.Thread` each time), so library
//! threads that call Java for every frame or event attach once, as daemons
//! (they never keep the JVM from exiting), with their own name as the Java
//! thread name, and detach just before they end:
//!
//! - the JNI receive path's delivery thread ([`super::sink`]);
//! - the uniffi listener threads ([`ThreadAttachment`], taken by
//!   `uniffi_bindings::subscribe` when the library was loaded by a JVM).
//!   JNA, which runs uniffi's Kotlin callbacks, attaches a thread that is
//!   not attached yet *and detaches it again after every callback*; on an
//!   attached thread it does neither (docs/benchmarks-jni.md measures it).

use std::ffi::{CStr, CString, c_void};

use jni::sys::{JNI_OK, JNI_VERSION_1_6, JavaVMAttachArgs};
use jni::{JNIEnv, JavaVM};

/// Attaches the calling (library) thread to the JVM as a daemon named
/// `name`. jni-rs' own attach functions cannot name the thread. The thread
/// must call [`detach`] before it ends.
pub(super) fn attach(vm: &JavaVM, name: &CStr) -> Result<JNIEnv<'static>, String> {
    let raw = vm.get_java_vm_pointer();
    let mut args = JavaVMAttachArgs {
        version: JNI_VERSION_1_6,
        name: name.as_ptr().cast_mut(),
        group: std::ptr::null_mut(),
    };
    let mut env: *mut c_void = std::ptr::null_mut();
    // SAFETY: `raw` is the live JavaVM's invocation interface; the args
    // outlive the call (the JVM copies the name).
    let rc = unsafe {
        let attach = (**raw)
            .AttachCurrentThreadAsDaemon
            .ok_or("no AttachCurrentThreadAsDaemon")?;
        attach(raw, &mut env, (&raw mut args).cast())
    };
    if rc != JNI_OK {
        return Err(format!("AttachCurrentThreadAsDaemon returned {rc}"));
    }
    // SAFETY: a non-null JNIEnv for this thread, valid while it is attached,
    // i.e. until [`detach`] at the end of the thread.
    unsafe { JNIEnv::from_raw(env.cast()) }.map_err(|e| e.to_string())
}

/// Detaches the calling thread, attached by [`attach`]. It must hold no
/// local references that are still used, and no global reference may be
/// dropped on it afterwards without attaching again.
pub(super) fn detach(vm: &JavaVM) {
    let raw = vm.get_java_vm_pointer();
    // SAFETY: the thread was attached by `attach`.
    unsafe {
        if let Some(detach) = (**raw).DetachCurrentThread {
            detach(raw);
        }
    }
}

/// While alive, the thread that made it is attached to the JVM (see the
/// module documentation); dropping it detaches the thread. Made by
/// [`ThreadAttachment::new`] on the thread itself; not `Send`.
pub struct ThreadAttachment {
    vm: &'static JavaVM,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl ThreadAttachment {
    /// Attaches the calling thread as a daemon named `name`, if the library
    /// was loaded by a JVM (`System.load`/`System.loadLibrary`, which runs
    /// `JNI_OnLoad`) and the thread is not attached yet; otherwise `None`.
    pub fn new(name: &str) -> Option<Self> {
        let vm = super::java_vm()?;
        if vm.get_env().is_ok() {
            return None; // attached by someone else, who detaches it
        }
        let name = CString::new(name).ok()?;
        match attach(vm, &name) {
            Ok(_) => Some(ThreadAttachment {
                vm,
                _not_send: std::marker::PhantomData,
            }),
            Err(e) => {
                tracing::debug!("cannot attach {name:?} to the JVM: {e}");
                None
            }
        }
    }
}

impl Drop for ThreadAttachment {
    fn drop(&mut self) {
        detach(self.vm);
    }
}
