//! Requests to answers: the head checked (the `Host` fields, the target's length, the
//! method), the route, `OUT` opened once for the request, the auth, then the handler
//! ([`super::content`]); every refusal as the distribution spec's error body.

use super::State;
use super::body::Body;
use super::catalog::Snapshot;
use super::routes::{bad_host, error, route};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// The API version header every answer carries.
const API_VERSION: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");

/// Answers one request.
pub(super) async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let mut response = respond(&state, &req).await;
    response
        .headers_mut()
        .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    tracing::debug!(
        "{peer} {} {} {}",
        req.method(),
        req.uri()
            .path_and_query()
            .map_or("", |p| p.as_str())
            .chars()
            .take(200)
            .collect::<String>(),
        response.status().as_u16()
    );
    Ok(response)
}

async fn respond(state: &Arc<State>, req: &Request<Incoming>) -> Response<Body> {
    if let Some(why) = bad_host(req.version(), req.headers()) {
        let mut r = error(StatusCode::BAD_REQUEST, "UNSUPPORTED", why);
        // A client that sends such a request may frame the next one as badly: close.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    let target_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target_len > state.limits.max_path_bytes {
        return error(
            StatusCode::URI_TOO_LONG,
            "UNSUPPORTED",
            "request target too long",
        );
    }
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "this registry is read-only: it serves a build output as it is; only GET and HEAD",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
    };
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if route(&path).is_none() {
        return error(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint");
    }
    if state.paused.load(std::sync::atomic::Ordering::Relaxed) {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "the build output is being written (a build, apply or gc); try again shortly",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return r;
    }
    // OUT as it is now, opened once for this request.
    let opened = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            let snapshot = Snapshot::open(&state.out, &state.catalog)?;
            let auth = state.auth.settings(&snapshot);
            Ok::<_, super::catalog::OpenError>((snapshot, auth))
        })
        .await
    };
    let (snapshot, auth) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => {
            tracing::warn!("{}: {e}", state.out.display());
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the build output cannot be read now",
            );
        }
        Err(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "internal error",
            );
        }
    };
    match auth {
        Err(message) => {
            tracing::warn!("{}: {message}", state.out.display());
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "the registry's credentials cannot be read",
            );
        }
        Ok(Some(settings)) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if !state.auth.check(&settings, given).await {
                let mut r = error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "authentication required",
                );
                let challenge = format!("Basic realm=\"{}\"", settings.realm.replace('"', ""));
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                return r;
            }
        }
        Ok(None) => {}
    }
    let accept: Vec<String> = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let range = req
        .headers()
        .get(header::RANGE)
        .map(|v| v.to_str().unwrap_or("invalid").to_string());
    let if_none_match = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let request = super::routes::Request {
        head,
        query,
        accept,
        range,
        if_none_match,
    };
    let answered = tokio::task::spawn_blocking(move || {
        let Some(route) = self::route(&path) else {
            return error(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint");
        };
        super::content::answer(&snapshot, route, &request)
    })
    .await;
    answered.unwrap_or_else(|_| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "internal error",
        )
    })
}
