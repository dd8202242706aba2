//! `uniffi-bindgen-swift` (Swift sources, C header, modulemap) at the uniffi
//! version of librtcgate.
fn main() {
    uniffi::uniffi_bindgen_swift()
}
