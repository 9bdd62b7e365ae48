//! A first end-to-end check through the C ABI: route, params, query, header, JSON, 404.
mod common;
use common::*;
use httpsock::ffi::api::*;

#[test]
fn hello_route_param_and_not_found() {
    let srv = TestServer::start(|s| {
        let id = route(s, "GET", "/hello/{name}", |req, res| {
            let n = c("name");
            let name = field(|r, l| hs_request_param_named(r, n.as_ptr(), l), req);
            assert_eq!(name, field(|r, l| hs_request_param(r, 0, l), req));
            let q = field(|r, l| hs_request_query(r, l), req);
            let body = format!("{{\"name\":\"{name}\",\"q\":\"{q}\"}}");
            assert_eq!(
                respond(
                    res,
                    200,
                    "Content-Type: application/json\r\n",
                    body.as_bytes()
                ),
                0
            );
        });
        assert!(id >= 0, "{}", last_error());
    });
    let r = get(srv.port, "/hello/ada?x=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"name":"ada","q":"x=1"}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let nf = get(srv.port, "/nope");
    assert_eq!(nf.status, 404);
    assert_eq!(nf.text(), "404 Not Found");
    assert_eq!(nf.header("x-server-response-type"), Some("NOT_FOUND"));
    assert_eq!(srv.stop(), 0);
}
