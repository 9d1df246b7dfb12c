//! The Envoy external authorization API (`envoy.service.auth.v3.Authorization/Check`, over
//! gRPC, from Envoy's own protos): Envoy asks before forwarding each request. Denied
//! requests get the configured status (403 for blocks, 429 for throttles) and a JSON body;
//! allowed ones go upstream with `x-moat-action`, `x-moat-score` and `x-moat-campaign`
//! headers the gateway can route on.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use envoy_types::ext_authz::v3::pb::{
    Authorization, CheckRequest as EnvoyCheck, CheckResponse, HttpStatusCode,
};
use envoy_types::ext_authz::v3::{
    CheckRequestExt, CheckResponseExt, DeniedHttpResponseBuilder, OkHttpResponseBuilder,
};
use moat_core::{Client, Message, Request};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::config::{Action, AuthzConfig};
use crate::decide::{CheckRequest, Decision};

/// The gRPC service.
pub struct Authz {
    state: Arc<AppState>,
}

impl Authz {
    /// The service over the shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// The part of an OpenAI-style request body the signals read, when Envoy forwards the
/// body (`with_request_body` in the ext_authz filter).
#[derive(Debug, Default, Deserialize)]
struct Body {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    messages: Vec<serde_json::Value>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    tools: Option<Vec<serde_json::Value>>,
}

/// The client's address: the one Envoy saw connect, or, behind `trusted_hops` proxies of
/// the operator's own, the one the outermost of them saw (the `trusted_hops`-th entry of
/// `x-forwarded-for` from the right). Entries further left are the client's own words.
fn client_address(
    peer: Option<IpAddr>,
    forwarded: Option<&str>,
    trusted_hops: u32,
) -> Option<IpAddr> {
    if trusted_hops == 0 {
        return peer;
    }
    let hops: Vec<&str> = forwarded.unwrap_or_default().split(',').collect();
    hops.len()
        .checked_sub(trusted_hops as usize)
        .and_then(|i| hops[i].trim().parse::<IpAddr>().ok())
        .or(peer)
}

/// Reads a check from Envoy's request attributes: the account from the configured header,
/// the client address, its software, and the body when forwarded.
fn read_check(request: &EnvoyCheck, config: &AuthzConfig) -> Option<CheckRequest> {
    let headers = request.get_client_headers()?;
    let account_id = headers
        .get(&config.account_header)
        .filter(|a| !a.is_empty())?
        .clone();
    let peer = request
        .get_client_address()
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    let ip = client_address(
        peer,
        headers.get("x-forwarded-for").map(String::as_str),
        config.trusted_hops,
    );
    let http = request
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref());
    let body: Body = http
        .map(|h| {
            if h.raw_body.is_empty() {
                h.body.as_bytes()
            } else {
                &h.raw_body[..]
            }
        })
        .filter(|b| !b.is_empty())
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let messages: Vec<Message> = body
        .messages
        .into_iter()
        .filter_map(|m| serde_json::from_value(m).ok())
        .collect();
    Some(CheckRequest {
        account_id: account_id.into(),
        model: body.model.map(Into::into),
        client: Client {
            ip,
            user_agent: headers.get("user-agent").map(|ua| ua.as_str().into()),
            ..Client::default()
        },
        request: Request {
            messages,
            max_tokens: body.max_tokens.or(body.max_completion_tokens),
            temperature: body.temperature,
            tools: body.tools.map(|t| t.len() as u32).filter(|&n| n > 0),
            ..Request::default()
        },
        ..CheckRequest::default()
    })
}

fn respond(decision: &Decision, config: &AuthzConfig, explain: bool) -> CheckResponse {
    let (block_status, throttle_status) = (config.block_status, config.throttle_status);
    let score = format!("{:.3}", decision.score);
    let mut response = CheckResponse::new();
    match decision.action {
        Action::Allow | Action::Challenge => {
            let mut ok = OkHttpResponseBuilder::new();
            ok.add_header("x-moat-action", decision.action.as_str(), None, false)
                .add_header("x-moat-score", score, None, false);
            if let Some(c) = &decision.campaign_id {
                ok.add_header("x-moat-campaign", c.as_str(), None, false);
            }
            response
                .set_status(tonic::Status::ok(""))
                .set_http_response(ok);
        }
        Action::Block | Action::Throttle => {
            let status = if decision.action == Action::Block {
                block_status
            } else {
                throttle_status
            };
            // The denial goes back to the caller: what it says beyond the action is for
            // operators who asked for it.
            let mut body = decision.for_gateway(explain);
            body["error"] = json!(format!("request refused: {}", decision.action.as_str()));
            let mut denied = DeniedHttpResponseBuilder::new();
            denied
                .set_http_status(
                    HttpStatusCode::try_from(i32::from(status))
                        .unwrap_or(HttpStatusCode::Forbidden),
                )
                .add_header("content-type", "application/json", None, false)
                .add_header("x-moat-action", decision.action.as_str(), None, false);
            if explain {
                denied.add_header("x-moat-score", score, None, false);
            }
            denied.set_body(body.to_string());
            response
                .set_status(tonic::Status::permission_denied(decision.action.as_str()))
                .set_http_response(denied);
        }
    }
    response
}

#[tonic::async_trait]
impl Authorization for Authz {
    async fn check(
        &self,
        request: tonic::Request<EnvoyCheck>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let config = &self.state.config;
        if let Some(peer) = request.remote_addr()
            && !config.may_check(peer.ip())
        {
            return Err(tonic::Status::permission_denied(format!(
                "{} may not ask for decisions (serve.check_from)",
                peer.ip()
            )));
        }
        let started = Instant::now();
        let request = request.into_inner();
        let Some(check) = read_check(&request, &config.authz) else {
            return Err(tonic::Status::invalid_argument(format!(
                "the request has no {} header naming the account",
                config.authz.account_header
            )));
        };
        let decision = self.state.decider.decide(check);
        self.state.metrics.decided(
            "authz",
            decision.action.as_str(),
            started.elapsed().as_secs_f64(),
        );
        Ok(tonic::Response::new(respond(
            &decision,
            &config.authz,
            config.explain_decisions,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_cannot_name_its_own_address() {
        let peer: Option<IpAddr> = "203.0.113.9".parse().ok();
        let spoofed = Some("198.51.100.7");
        assert_eq!(client_address(peer, spoofed, 0), peer);
        assert_eq!(client_address(peer, None, 0), peer);
        // Behind one load balancer of the operator's, its entry (the rightmost) is the
        // client; whatever the client wrote before it is not.
        let chain = Some("198.51.100.7, 192.0.2.44");
        assert_eq!(client_address(peer, chain, 1), "192.0.2.44".parse().ok());
        assert_eq!(client_address(peer, chain, 2), "198.51.100.7".parse().ok());
        // Fewer entries than trusted hops, or garbage: the peer Envoy saw.
        assert_eq!(client_address(peer, chain, 3), peer);
        assert_eq!(client_address(peer, Some("not an address"), 1), peer);
    }
}
