//! Signed access tokens (JWT) for the embedded server, shaped like LiveKit's
//! access tokens so that an application that mints those can mint ours.
//!
//! | claim | meaning |
//! |---|---|
//! | `iss` | key id: picks the key the server verifies with |
//! | `sub` | identity of the member |
//! | `name` | display name (the identity when absent) |
//! | `exp`, `nbf` | expiry and start of validity (seconds since the epoch) |
//! | `video.room`, `video.roomJoin` | the one room the token admits to |
//! | `video.canPublish`, `video.canSubscribe` | media grants (absent = granted, as in LiveKit) |
//! | `video.roomRecord` | may record the room |
//! | `metadata` | free text, carried as is |
//!
//! Algorithms: HS256 with a shared secret (as LiveKit) and EdDSA (Ed25519),
//! where the server holds only the public key. `alg: none` and any algorithm
//! other than the key's are refused. `docs/signalling.md` has the details.
//!
//! ```
//! use std::time::Duration;
//! use rtcgate_core::signalling::token::{AccessToken, TokenKey, TokenVerifier, VideoGrant};
//!
//! let secret = "an example secret of at least 32 bytes";
//! let jwt = AccessToken::new("key-1", "alice")
//!     .with_grant(VideoGrant::join("board"))
//!     .with_ttl(Duration::from_secs(3600))
//!     .sign_hs256(secret)
//!     .unwrap();
//! let verifier = TokenVerifier::new(vec![TokenKey::hs256("key-1", secret).unwrap()]);
//! let claims = verifier.verify_join(&jwt, "board").unwrap();
//! assert_eq!(claims.sub, "alice");
//! assert!(verifier.verify_join(&jwt, "another-room").is_err());
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Shortest HS256 secret accepted: the hash size (RFC 7518 §3.2).
pub const MIN_HS256_SECRET: usize = 32;

/// Validity of a token when [`AccessToken::with_ttl`] is not called (6 h, as LiveKit).
pub const DEFAULT_TTL: Duration = Duration::from_secs(6 * 3600);

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// What a token grants in a room (LiveKit's `video` claim).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct VideoGrant {
    /// The room the token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// May join the room.
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_join: bool,
    /// May send media (`None`: granted, as in LiveKit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    /// May receive media (`None`: granted, as in LiveKit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    /// May record the room.
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_record: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl VideoGrant {
    /// Join `room`, publish and subscribe (publish and subscribe are left
    /// unset, which grants them).
    pub fn join(room: impl Into<String>) -> Self {
        Self {
            room: Some(room.into()),
            room_join: true,
            ..Self::default()
        }
    }

    /// Sets whether the member may send media.
    pub fn with_publish(mut self, allowed: bool) -> Self {
        self.can_publish = Some(allowed);
        self
    }

    /// Sets whether the member may receive media.
    pub fn with_subscribe(mut self, allowed: bool) -> Self {
        self.can_subscribe = Some(allowed);
        self
    }

    /// Sets whether the member may record the room.
    pub fn with_record(mut self, allowed: bool) -> Self {
        self.room_record = allowed;
        self
    }

    /// Whether the member may send media.
    pub fn may_publish(&self) -> bool {
        self.can_publish.unwrap_or(true)
    }

    /// Whether the member may receive media.
    pub fn may_subscribe(&self) -> bool {
        self.can_subscribe.unwrap_or(true)
    }
}

/// The claims of an access token. Unknown claims (`jti`, LiveKit's `kind`,
/// …) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessClaims {
    /// Key id of the signing key.
    pub iss: String,
    /// Identity of the member.
    pub sub: String,
    /// Display name; the identity is shown when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// Not valid before, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// What the token grants.
    #[serde(default)]
    pub video: VideoGrant,
    /// Free text about the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

impl AccessClaims {
    /// The name other members see: `name`, else the identity.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.sub)
    }
}

/// Builds and signs an access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    claims: AccessClaims,
    ttl: Duration,
}

impl AccessToken {
    /// A token of `identity`, signed with the key named `key_id`, valid from
    /// now for [`DEFAULT_TTL`], granting nothing yet.
    pub fn new(key_id: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            claims: AccessClaims {
                iss: key_id.into(),
                sub: identity.into(),
                name: None,
                exp: 0,
                nbf: None,
                video: VideoGrant::default(),
                metadata: None,
            },
            ttl: DEFAULT_TTL,
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.claims.name = Some(name.into());
        self
    }

    /// Sets how long the token is valid, from when it is signed.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets what the token grants.
    pub fn with_grant(mut self, grant: VideoGrant) -> Self {
        self.claims.video = grant;
        self
    }

    /// Sets the free-text metadata.
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.claims.metadata = Some(metadata.into());
        self
    }

    /// Signs with HS256 and a shared secret (at least [`MIN_HS256_SECRET`] bytes).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for
    /// a short secret, an empty key id or identity.
    pub fn sign_hs256(&self, secret: impl AsRef<[u8]>) -> Result<String> {
        check_secret(secret.as_ref())?;
        self.sign(Algorithm::HS256, &EncodingKey::from_secret(secret.as_ref()))
    }

    /// Signs with EdDSA (Ed25519) and a private key in PKCS#8 PEM
    /// (`openssl genpkey -algorithm ed25519`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for
    /// a key that is not Ed25519 PEM, an empty key id or identity.
    pub fn sign_ed25519_pem(&self, private_key_pem: &[u8]) -> Result<String> {
        let key = EncodingKey::from_ed_pem(private_key_pem)
            .map_err(|e| Error::invalid_argument(format!("Ed25519 private key: {e}")))?;
        self.sign(Algorithm::EdDSA, &key)
    }

    fn sign(&self, algorithm: Algorithm, key: &EncodingKey) -> Result<String> {
        if self.claims.iss.is_empty() || self.claims.sub.is_empty() {
            return Err(Error::invalid_argument(
                "an access token needs a key id and an identity",
            ));
        }
        let now = unix_now();
        let mut claims = self.claims.clone();
        claims.nbf = Some(now);
        claims.exp = now.saturating_add(self.ttl.as_secs());
        jsonwebtoken::encode(&Header::new(algorithm), &claims, key)
            .map_err(|e| Error::invalid_argument(format!("signing the token: {e}")))
    }
}

/// A key the server verifies tokens with, named by the `iss` claim.
#[derive(Clone)]
pub struct TokenKey {
    id: String,
    algorithm: Algorithm,
    key: Arc<DecodingKey>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// An HS256 shared secret (at least [`MIN_HS256_SECRET`] bytes).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for
    /// an empty id or a short secret.
    pub fn hs256(id: impl Into<String>, secret: impl AsRef<[u8]>) -> Result<Self> {
        check_secret(secret.as_ref())?;
        Self::new(
            id.into(),
            Algorithm::HS256,
            DecodingKey::from_secret(secret.as_ref()),
        )
    }

    /// An Ed25519 public key in PEM (`openssl pkey -pubout`): the server
    /// verifies EdDSA tokens without being able to mint them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for
    /// an empty id or a key that is not Ed25519 PEM.
    pub fn ed25519_public_pem(id: impl Into<String>, public_key_pem: &[u8]) -> Result<Self> {
        let key = DecodingKey::from_ed_pem(public_key_pem)
            .map_err(|e| Error::invalid_argument(format!("Ed25519 public key: {e}")))?;
        Self::new(id.into(), Algorithm::EdDSA, key)
    }

    fn new(id: String, algorithm: Algorithm, key: DecodingKey) -> Result<Self> {
        if id.is_empty() {
            return Err(Error::invalid_argument("a token key needs an id"));
        }
        Ok(Self {
            id,
            algorithm,
            key: Arc::new(key),
        })
    }

    /// The key id (the `iss` of the tokens it verifies).
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn check_secret(secret: &[u8]) -> Result<()> {
    if secret.len() < MIN_HS256_SECRET {
        return Err(Error::invalid_argument(format!(
            "an HS256 secret needs at least {MIN_HS256_SECRET} bytes, this one has {}",
            secret.len()
        )));
    }
    Ok(())
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// No token where one is required.
    #[error("this server requires a signed access token")]
    Missing,
    /// Not a JWT, or a claim missing or of the wrong type.
    #[error("malformed access token: {0}")]
    Malformed(String),
    /// The `iss` names no configured key.
    #[error("access token signed with unknown key `{0}`")]
    UnknownKey(String),
    /// The header's `alg` is not the key's algorithm (this includes `none`).
    #[error("access token algorithm `{found}` is not accepted for key `{key}` ({expected})")]
    Algorithm {
        /// The key id.
        key: String,
        /// The algorithm of the key.
        expected: String,
        /// The `alg` of the token.
        found: String,
    },
    /// The signature does not verify.
    #[error("access token signature is invalid")]
    BadSignature,
    /// `exp` has passed.
    #[error("access token expired")]
    Expired,
    /// `nbf` is still ahead.
    #[error("access token not valid yet")]
    NotYetValid,
    /// The token is for another room (or none).
    #[error("access token is for room {token_room:?}, not `{room}`")]
    WrongRoom {
        /// The room asked for.
        room: String,
        /// The room of the token.
        token_room: Option<String>,
    },
    /// A grant the action needs is missing.
    #[error("access token lacks the `{0}` grant")]
    MissingGrant(&'static str),
}

/// Verifies access tokens against a set of keys.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    keys: Vec<TokenKey>,
}

impl TokenVerifier {
    /// A verifier trusting `keys` (their ids should differ; the first of an
    /// id is used).
    pub fn new(keys: Vec<TokenKey>) -> Self {
        Self { keys }
    }

    /// Checks that key ids are unique.
    pub(crate) fn check_keys(keys: &[TokenKey]) -> std::result::Result<(), String> {
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(format!("token key id `{}` appears twice", key.id));
            }
        }
        Ok(())
    }

    /// Verifies signature, algorithm, `exp` and `nbf`; returns the claims.
    ///
    /// # Errors
    ///
    /// The [`TokenRejection`] that says why.
    pub fn verify(&self, token: &str) -> std::result::Result<AccessClaims, TokenRejection> {
        if token.is_empty() {
            return Err(TokenRejection::Missing);
        }
        let (header, payload) = unverified_parts(token)?;
        let iss = payload
            .get("iss")
            .and_then(|v| v.as_str())
            .ok_or_else(|| TokenRejection::Malformed("no `iss` (key id) claim".into()))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == iss)
            .ok_or_else(|| TokenRejection::UnknownKey(iss.to_owned()))?;
        let alg = header.get("alg").and_then(|v| v.as_str()).unwrap_or("");
        let expected = format!("{:?}", key.algorithm);
        if alg != expected {
            return Err(TokenRejection::Algorithm {
                key: key.id.clone(),
                expected,
                found: alg.to_owned(),
            });
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[&key.id]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenRejection::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
                _ => TokenRejection::Malformed(e.to_string()),
            },
        )?;
        if data.claims.sub.is_empty() {
            return Err(TokenRejection::Malformed("empty `sub` (identity)".into()));
        }
        Ok(data.claims)
    }

    /// [`verify`](Self::verify), then checks that the token admits to `room`
    /// (`video.room` and `video.roomJoin`).
    ///
    /// # Errors
    ///
    /// The [`TokenRejection`] that says why.
    pub fn verify_join(
        &self,
        token: &str,
        room: &str,
    ) -> std::result::Result<AccessClaims, TokenRejection> {
        let claims = self.verify(token)?;
        if claims.video.room.as_deref() != Some(room) {
            return Err(TokenRejection::WrongRoom {
                room: room.to_owned(),
                token_room: claims.video.room,
            });
        }
        if !claims.video.room_join {
            return Err(TokenRejection::MissingGrant("roomJoin"));
        }
        Ok(claims)
    }
}

/// The header and payload of a JWT as JSON, before any verification (only
/// to pick the key and check the algorithm).
fn unverified_parts(
    token: &str,
) -> std::result::Result<(serde_json::Value, serde_json::Value), TokenRejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed(
            "a JWT has three dot-separated parts".into(),
        ));
    };
    let json = |part: &str, what: &str| {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| TokenRejection::Malformed(format!("{what}: {e}")))?;
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| TokenRejection::Malformed(format!("{what}: {e}")))
    };
    Ok((json(header, "header")?, json(payload, "payload")?))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(vec![TokenKey::hs256("k1", SECRET).unwrap()])
    }

    /// A token with hand-written claims, signed with `secret`.
    fn signed(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(room: &str, exp: u64) -> serde_json::Value {
        serde_json::json!({
            "iss": "k1", "sub": "alice", "exp": exp, "nbf": unix_now() - 10,
            "video": {"room": room, "roomJoin": true}
        })
    }

    #[test]
    fn claims_have_livekit_names() {
        let jwt = AccessToken::new("k1", "alice")
            .with_name("Alice")
            .with_grant(
                VideoGrant::join("board")
                    .with_publish(false)
                    .with_record(true),
            )
            .sign_hs256(SECRET)
            .unwrap();
        let (header, payload) = unverified_parts(&jwt).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(payload["iss"], "k1");
        assert_eq!(payload["sub"], "alice");
        assert_eq!(payload["name"], "Alice");
        assert_eq!(payload["video"]["room"], "board");
        assert_eq!(payload["video"]["roomJoin"], true);
        assert_eq!(payload["video"]["canPublish"], false);
        assert_eq!(payload["video"]["roomRecord"], true);
        assert!(payload["video"].get("canSubscribe").is_none());
        let exp = payload["exp"].as_u64().unwrap();
        assert!(exp >= unix_now() + DEFAULT_TTL.as_secs() - 5);
        let claims = verifier().verify_join(&jwt, "board").unwrap();
        assert_eq!(claims.display_name(), "Alice");
        assert!(!claims.video.may_publish());
        assert!(claims.video.may_subscribe());
    }

    #[test]
    fn a_livekit_shaped_token_is_accepted() {
        // What LiveKit's server SDKs put in a token, extra claims included.
        let jwt = signed(
            serde_json::json!({
                "iss": "k1", "sub": "bob", "exp": unix_now() + 600, "nbf": unix_now() - 1,
                "jti": "bob", "name": "Bob", "kind": "standard",
                "video": {"room": "r", "roomJoin": true, "canPublishData": true}
            }),
            SECRET,
        );
        assert_eq!(
            verifier().verify_join(&jwt, "r").unwrap().display_name(),
            "Bob"
        );
    }

    #[test]
    fn refusals_say_why() {
        let v = verifier();
        let future = unix_now() + 600;
        assert_eq!(v.verify(""), Err(TokenRejection::Missing));
        assert!(matches!(v.verify("abc"), Err(TokenRejection::Malformed(_))));
        assert!(matches!(
            v.verify("a.b.c"),
            Err(TokenRejection::Malformed(_))
        ));
        let other_secret = signed(claims("r", future), "another secret of at least 32 bytes!");
        assert_eq!(v.verify(&other_secret), Err(TokenRejection::BadSignature));
        let expired = signed(claims("r", unix_now() - LEEWAY_SECONDS - 10), SECRET);
        assert_eq!(v.verify(&expired), Err(TokenRejection::Expired));
        let mut early = claims("r", future);
        early["nbf"] = serde_json::json!(unix_now() + 300);
        assert_eq!(
            v.verify(&signed(early, SECRET)),
            Err(TokenRejection::NotYetValid)
        );
        let mut unknown = claims("r", future);
        unknown["iss"] = serde_json::json!("k2");
        assert_eq!(
            v.verify(&signed(unknown, SECRET)),
            Err(TokenRejection::UnknownKey("k2".into()))
        );
        let good = signed(claims("r", future), SECRET);
        assert!(matches!(
            v.verify_join(&good, "other"),
            Err(TokenRejection::WrongRoom { .. })
        ));
        let mut no_join = claims("r", future);
        no_join["video"]["roomJoin"] = serde_json::json!(false);
        assert_eq!(
            v.verify_join(&signed(no_join, SECRET), "r"),
            Err(TokenRejection::MissingGrant("roomJoin"))
        );
        let mut no_sub = claims("r", future);
        no_sub.as_object_mut().unwrap().remove("sub");
        assert!(matches!(
            v.verify(&signed(no_sub, SECRET)),
            Err(TokenRejection::Malformed(_))
        ));
    }

    #[test]
    fn alg_none_and_a_tampered_payload_are_refused() {
        let v = verifier();
        let good = signed(claims("r", unix_now() + 600), SECRET);
        let payload = good.split('.').nth(1).unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        for unsigned in [
            format!("{none_header}.{payload}."),
            format!(
                "{none_header}.{payload}.{}",
                good.split('.').nth(2).unwrap()
            ),
        ] {
            assert!(
                matches!(v.verify(&unsigned), Err(TokenRejection::Algorithm { ref found, .. }) if found == "none"),
                "{:?}",
                v.verify(&unsigned)
            );
        }
        let mut forged = claims("r", unix_now() + 600);
        forged["video"]["room"] = serde_json::json!("secret-room");
        let forged_payload = URL_SAFE_NO_PAD.encode(forged.to_string());
        let parts: Vec<&str> = good.split('.').collect();
        let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(v.verify(&tampered), Err(TokenRejection::BadSignature));
    }

    #[test]
    fn ed25519_tokens_verify_with_the_public_key_only() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let private = pair.serialize_pem();
        let public = pair.public_key_pem();
        let v = TokenVerifier::new(vec![
            TokenKey::ed25519_public_pem("ed", public.as_bytes()).unwrap(),
        ]);
        let jwt = AccessToken::new("ed", "carol")
            .with_grant(VideoGrant::join("r"))
            .sign_ed25519_pem(private.as_bytes())
            .unwrap();
        assert_eq!(v.verify_join(&jwt, "r").unwrap().sub, "carol");
        // Algorithm confusion: HS256 "signed" with the public key's text.
        let mut confused = claims("r", unix_now() + 600);
        confused["iss"] = serde_json::json!("ed");
        let confused = signed(confused, &public);
        assert!(matches!(
            v.verify(&confused),
            Err(TokenRejection::Algorithm { ref found, .. }) if found == "HS256"
        ));
        // Another Ed25519 key signs: the signature does not verify.
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let jwt = AccessToken::new("ed", "mallory")
            .with_grant(VideoGrant::join("r"))
            .sign_ed25519_pem(other.serialize_pem().as_bytes())
            .unwrap();
        assert_eq!(v.verify(&jwt), Err(TokenRejection::BadSignature));
    }

    #[test]
    fn short_secrets_and_empty_ids_are_invalid_arguments() {
        assert!(TokenKey::hs256("k", "short").is_err());
        assert!(TokenKey::hs256("", SECRET).is_err());
        assert!(AccessToken::new("k", "").sign_hs256(SECRET).is_err());
        assert!(TokenKey::ed25519_public_pem("k", b"not pem").is_err());
        let keys = [
            TokenKey::hs256("k", SECRET).unwrap(),
            TokenKey::hs256("k", SECRET).unwrap(),
        ];
        assert!(TokenVerifier::check_keys(&keys).is_err());
    }
}
