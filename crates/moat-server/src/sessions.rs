//! Dashboard sessions: who signed in, until when, by the cookie their browser carries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use dashmap::DashMap;

/// The session cookie's name.
pub const COOKIE: &str = "moat_session";
/// How long a session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Open dashboard sessions: random ids, each with its expiry and the operator who signed
/// in. Kept in memory: a restart signs everyone out.
#[derive(Default)]
pub struct Sessions(DashMap<String, (Instant, Arc<str>)>);

impl Sessions {
    /// Opens a session for `operator`; returns its id, for the cookie.
    pub fn open(&self, operator: &str) -> String {
        let bytes: [u8; 32] = rand::random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.0.retain(|_, (expires, _)| *expires > Instant::now());
        self.0.insert(
            id.clone(),
            (Instant::now() + SESSION_LIFETIME, Arc::from(operator)),
        );
        id
    }

    /// The operator whose live session cookie the request carries, if any.
    pub fn operator(&self, headers: &HeaderMap) -> Option<Arc<str>> {
        let id = session_id(headers)?;
        let session = self.0.get(id)?;
        let (expires, operator) = session.value();
        (*expires > Instant::now()).then(|| operator.clone())
    }

    /// Whether the request carries a live session cookie.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        self.operator(headers).is_some()
    }

    /// Closes the session whose cookie the request carries.
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = session_id(headers) {
            self.0.remove(id);
        }
    }
}

fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}
