//! `uniffi-bindgen` (Kotlin, Swift sources, ...) at the uniffi version of librtcgate.
fn main() {
    uniffi::uniffi_bindgen_main()
}
