"""`gateway explain` on whole classes of lines, each in its product's own wording.

Every line here is built from the format string in the product's source (named in the
comment above each group) or from its documentation, with made-up addresses and
names: HAProxy's termination states and server events, Varnish's FetchError and
Backend_health records, Apache's mod_proxy_ajp, mod_ssl and mod_proxy_http messages,
Traffic Server's CONNECT and TLS errors, Kong's and APISIX's Lua wording, PHP-FPM's and
uWSGI's warnings, nginx lines under wrappers or broken in two by the paste, Envoy's
transport failure reasons, cloudflared's and Traefik's Go errors.
"""

from __future__ import annotations

import pytest

from checks.explain import explain

CASES = [
    (
        "hap-cd",
        'Dec  3 10:00:00 lb1 haproxy[2211]: 10.1.2.3:51234 [03/Dec/2026:10:00:00.123] www~ app/web1 0/0/1/-1/5002 -1 0 - - CD-- 12/12/3/1/0 0/0 "GET /api/items HTTP/1.1"',
        "haproxy",
        "client_closed",
    ),
    (
        "hap-cc503",
        'Dec  3 10:00:00 lb1 haproxy[2211]: 10.1.2.3:51234 [03/Dec/2026:10:00:00.123] www app/<NOSRV> 0/-1/-1/-1/3001 503 0 - - CC-- 1/1/0/0/0 0/0 "POST /upload HTTP/1.1"',
        "haproxy",
        "client_closed",
    ),
    (
        "hap-cd-ingress",
        '[pod/haproxy-ingress-6c8f/haproxy-ingress] 10.244.0.1:40112 [03/Dec/2026:10:00:00.123] _front_http default_web_8080/srv001 0/0/0/-1/60001 -1 0 - - CD-- 3/3/0/0/0 0/0 "GET /stream HTTP/1.1"',
        "haproxy",
        "client_closed",
    ),
    (
        "hap-cc-200",
        '10.1.2.3:51234 [03/Dec/2026:10:00:00.123] fe be/s2 0/0/2/110/-1 200 1024 - - CC-- 5/5/1/1/0 0/0 "GET / HTTP/1.1"',
        "haproxy",
        "client_closed",
    ),
    (
        "hap-l4con",
        'Dec  3 10:00:00 lb1 haproxy[2211]: Server app/web1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
        "haproxy",
        "no_healthy_upstream",
    ),
    (
        "hap-l4to",
        "[WARNING]  (8) : Server app/web2 is DOWN, reason: Layer4 timeout, check duration: 2001ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "haproxy",
        "no_healthy_upstream",
    ),
    (
        "hap-l7",
        'Dec  3 10:00:00 lb1 haproxy[2211]: Server app/web1 is DOWN, reason: Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: 3ms. 2 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.',
        "haproxy",
        "no_healthy_upstream",
    ),
    (
        "hap-l7to",
        "Server app/web1 is DOWN, reason: Layer7 timeout, check duration: 2001ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "haproxy",
        "no_healthy_upstream",
    ),
    (
        "hap-dns-nx",
        "[WARNING]  (7) : Server be_app/app1 is going DOWN for maintenance (DNS NX status). 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "haproxy",
        "upstream_dns",
    ),
    (
        "hap-dns-to",
        "Dec  3 10:00:00 lb haproxy[7]: Server be_app/app1 is going DOWN for maintenance (DNS timeout status). 0 active and 0 backup servers left.",
        "haproxy",
        "upstream_dns",
    ),
    (
        "hap-cant-resolve",
        "[ALERT]    (1) : config : parsing [/usr/local/etc/haproxy/haproxy.cfg:41] : 'server app1' : could not resolve address 'app'.",
        "haproxy",
        "upstream_dns",
    ),
    (
        "hap-noip",
        "[WARNING]  (9) : Server be_app/app1 is going DOWN for maintenance (No IP for server ). 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "haproxy",
        "upstream_dns",
    ),
    (
        "hap-resolvers",
        "[ALERT] 336/100000 (1) : parsing [/etc/haproxy/haproxy.cfg:30] : 'server s1' : could not resolve address 'backend.internal'.",
        "haproxy",
        "upstream_dns",
    ),
    (
        "v-sick",
        "0 Backend_health - boot.default Still sick -------- 2 3 5 0.000000 0.000000 ",
        "varnish",
        "no_healthy_upstream",
    ),
    (
        "v-wentsick",
        "-   Backend_health default Went sick 4---X-R- 2 3 5 0.000000 0.000000 Open error 111 (Connection refused)",
        "varnish",
        "no_healthy_upstream",
    ),
    ("v-nobackend", "-   FetchError     No backend", "varnish", "no_healthy_upstream"),
    ("v-fbt", "--  FetchError     first byte timeout", "varnish", "upstream_timeout"),
    ("v-eof", "--  FetchError     http first read error: EOF", "varnish", "upstream_bad_response"),
    ("v-eof2", "-- FetchError http read error: EOF", "varnish", "upstream_bad_response"),
    (
        "v-htc",
        "-   FetchError     HTC eof (Unexpected end of input)",
        "varnish",
        "upstream_bad_response",
    ),
    ("v-closed", "-   FetchError     backend closed", "varnish", "upstream_bad_response"),
    (
        "a-ajp1030",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_ajp:error] [pid 2345:tid 140] (70007)The timeout specified has expired: [client 10.1.2.3:51234] AH01030: ajp_ilink_receive() can't receive header",
        "apache",
        "upstream_timeout",
    ),
    (
        "a-ajp992",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_ajp:error] [pid 2345:tid 140] [client 10.1.2.3:51234] AH00992: ajp_read_header: ajp_ilink_receive failed",
        "apache",
        "upstream_timeout",
    ),
    (
        "a-ajp878",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_ajp:error] [pid 2345:tid 140] (120006)APR does not understand this error code: [client 10.1.2.3:51234] AH00878: read response failed from 127.0.0.1:8009 (localhost)",
        "apache",
        "upstream_timeout",
    ),
    (
        "a-sslproxy",
        "[Thu Dec 03 10:00:00.123456 2026] [ssl:error] [pid 2345:tid 140] [client 10.1.2.3:51234] AH01961: SSL Proxy requested for shop.example:443 but not enabled [Hint: SSLProxyEngine]",
        "apache",
        "upstream_tls",
    ),
    (
        "a-sslproxy2",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy:error] [pid 2345:tid 140] AH00961: HTTPS: failed to enable ssl support for 10.0.0.7:443 (backend.internal)",
        "apache",
        "upstream_tls",
    ),
    (
        "a-97",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_http:error] [pid 2345:tid 140] (32)Broken pipe: [client 10.1.2.3:51234] AH01097: pass request body failed to 10.0.0.7:8080 (10.0.0.7) from 10.1.2.3 ()",
        "apache",
        "upstream_bad_response",
    ),
    (
        "a-102",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_http:error] [pid 2345:tid 140] [client 10.1.2.3:51234] AH01102: error reading status line from remote server 10.0.0.7:8080",
        "apache",
        "upstream_bad_response",
    ),
    (
        "a-proxyerr",
        "Proxy Error\nThe proxy server received an invalid response from an upstream server.\nThe proxy server could not handle the request GET /.\nReason: Error reading from remote server",
        "apache",
        "upstream_bad_response",
    ),
    (
        "a-balancer",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_balancer:error] [pid 2345:tid 140] [client 10.1.2.3:51234] AH01167: balancer://mycluster: All workers are in error state for route (node1)",
        "apache",
        "no_healthy_upstream",
    ),
    (
        "a-balancer2",
        "[proxy:error] [pid 2345:tid 140] AH00940: HTTP: disabled connection for (app1)",
        "apache",
        "no_healthy_upstream",
    ),
    (
        "ats-conn2",
        "[Dec  3 10:00:00.123] [ET_NET 1] ERROR: CONNECT: could not connect to 10.0.0.7 for 'http://origin.example/' (setting last failure time) connect_result=111",
        "trafficserver",
        "upstream_refused",
    ),
    (
        "ats-tls",
        "[Dec  3 10:00:00.123] [ET_NET 2] ERROR: SSL connection failed for 'origin.example': error:0A000086:SSL routines::certificate verify failed",
        "trafficserver",
        "upstream_tls",
    ),
    (
        "k-nrf",
        '2026/12/03 10:00:00 [error] 1290#0: *5961 [lua] balancer.lua:1064: execute(): DNS resolution failed: dns server error: 3 name error. Tried: ["(short)backend.internal:(na) - cache-miss","backend.internal:33 - cache-miss/querying/dns server error: 3 name error"], client: 10.1.2.3, server: kong, request: "GET / HTTP/1.1", host: "api.example"',
        "kong",
        "upstream_dns",
    ),
    (
        "k-initial",
        '2026/12/03 10:00:00 [error] 22#0: *3345 [lua] handler.lua:1082: before(): failed the initial dns/balancer resolve for \'backend.internal\' with: dns server error: 3 name error, client: 10.1.2.3, server: kong, request: "GET / HTTP/1.1", host: "api.example"',
        "kong",
        "upstream_dns",
    ),
    ("k-body", '{"message":"name resolution failed"}', "kong", "upstream_dns"),
    (
        "k-body2",
        'HTTP/1.1 503 Service Temporarily Unavailable\nServer: kong/3.4.2\n\n{\n  "message":"name resolution failed"\n}',
        "kong",
        "upstream_dns",
    ),
    (
        "apisix-1",
        '2026/12/03 10:00:00 [error] 49#49: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 10.1.2.3, server: _, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:80/", host: "api.example", apisix',
        "openresty",
        "upstream_refused",
    ),
    (
        "apisix-2",
        '2026/12/03 10:00:00 [error] 49#49: *1 [lua] init.lua:527: http_access_phase(): failed to set upstream: no valid upstream node, client: 10.1.2.3, server: _, request: "GET / HTTP/1.1", host: "api.example"',
        "openresty",
        "no_healthy_upstream",
    ),
    (
        "or-1",
        "2026/12/03 10:00:00 [error] 7#7: *3 lua tcp socket read timed out, context: ngx.timer",
        "openresty",
        "upstream_timeout",
    ),
    (
        "fpm-busy",
        "[03-Dec-2026 10:00:00] WARNING: [pool www] seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers), spawning 8 children, there are 0 idle, and 13 total children",
        "php-fpm",
        "upstream_overloaded",
    ),
    (
        "fpm-busy2",
        "Dec 03 10:00:00 web1 php-fpm[812]: [WARNING] [pool www] seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers), spawning 32 children, there are 3 idle, and 45 total children",
        "php-fpm",
        "upstream_overloaded",
    ),
    (
        "uw-ibs",
        "invalid request block size: 4420 (max 4096)...skip",
        "uwsgi",
        "upstream_header_too_big",
    ),
    (
        "uw-ibs2",
        "Dec 03 10:00:00 web1 uwsgi[812]: invalid request block size: 21573 (max 4096)...skip",
        "uwsgi",
        "upstream_header_too_big",
    ),
    (
        "uw-ibs-nginx",
        '2026/12/03 10:00:00 [error] 812#812: *7 upstream prematurely closed connection while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "uwsgi://127.0.0.1:3031", host: "shop.example"\ninvalid request block size: 4420 (max 4096)...skip',
        "uwsgi",
        "upstream_header_too_big",
    ),
    (
        "n-send104",
        '2026/12/03 10:00:00 [error] 812#812: *7 send() failed (104: Connection reset by peer) while sending request to upstream, client: 10.1.2.3, server: shop, request: "POST / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "n-recv104",
        '2026/12/03 10:00:00 [error] 812#812: *7 recv() failed (104: Connection reset by peer) while reading upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "n-writev32",
        'nginx_1  | 2026/12/03 10:00:00 [error] 29#29: *7 writev() failed (32: Broken pipe) while sending request to upstream, client: 172.18.0.1, server: _, request: "POST /upload HTTP/1.1", upstream: "http://172.18.0.3:8000/upload", host: "localhost"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "n-to-docker",
        'proxy-1  | 2026/12/03 10:00:00 [error] 29#29: *7 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 172.18.0.1, server: _, request: "GET / HTTP/1.1", upstream: "http://172.18.0.3:8000/", host: "localhost"',
        "nginx",
        "upstream_timeout",
    ),
    (
        "n-to-journald",
        'Dec 03 10:00:00 web1 nginx[812]: 2026/12/03 10:00:00 [error] 812#812: *7 upstream timed out (110: Unknown error) while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8000/", host: "shop.example"',
        "nginx",
        "upstream_timeout",
    ),
    (
        "n-to-wrap",
        '2026/12/03 10:00:00 [error] 812#812: *7 upstream timed out (110: Connection timed out) while reading response header from\nupstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8000/", host: "shop.example"',
        "nginx",
        "upstream_timeout",
    ),
    (
        "n-to-wrap2",
        '2026/12/03 10:00:00 [error] 812#812: *7 upstream timed out (110: Connection\ntimed out) while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8000/", host: "shop.example"',
        "nginx",
        "upstream_timeout",
    ),
    (
        "n-unix2",
        '2026/12/03 10:00:00 [crit] 812#812: *7 connect() to unix:/run/gunicorn.sock failed (2: No such file or directory) while connecting to upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://unix:/run/gunicorn.sock:/", host: "shop.example"',
        "nginx",
        "upstream_refused",
    ),
    (
        "n-readv104",
        '2026/12/03 10:00:00 [error] 812#812: *7 readv() failed (104: Connection reset by peer) while reading upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "e-110",
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: delayed connect error: 110",
        "envoy",
        "upstream_timeout",
    ),
    (
        "e-111",
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: delayed connect error: 111",
        "envoy",
        "upstream_refused",
    ),
    (
        "e-tls",
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: 268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER",
        "envoy",
        "upstream_tls",
    ),
    (
        "e-tls2",
        "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end",
        "envoy",
        "upstream_tls",
    ),
    (
        "cf-stream",
        '2026-12-03T10:00:00Z ERR  error="stream 17 canceled by remote with error code 0" cfRay=8a1b2c3d4e5f6a7b-FRA originService=http://localhost:8080',
        "cloudflared",
        "client_closed",
    ),
    (
        "cf-ctx",
        '2026-12-03T10:00:00Z ERR Request failed error="context canceled" connIndex=0 dest=https://app.example/ ip=198.41.192.7 type=http',
        "cloudflared",
        "client_closed",
    ),
    (
        "cf-tls",
        '2026-12-03T10:00:00Z ERR  error="Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared: tls: failed to verify certificate: x509: certificate is valid for localhost, not app.internal" cfRay=8a1b2c3d4e5f6a7b-FRA originService=https://app.internal:8443',
        "cloudflared",
        "upstream_tls",
    ),
    (
        "cf-tls2",
        '2026-12-03T10:00:00Z ERR  error="Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared: remote error: tls: handshake failure" cfRay=8a1b2c3d4e5f6a7b-FRA originService=https://localhost:8443',
        "cloudflared",
        "upstream_tls",
    ),
    (
        "t-wsa",
        'time="2026-12-03T10:00:00Z" level=debug msg="\'502 Bad Gateway\' caused by: read tcp 10.0.0.2:51234->10.0.0.7:80: wsarecv: An existing connection was forcibly closed by the remote host."',
        "traefik",
        "upstream_bad_response",
    ),
    (
        "t-reset",
        '2026-12-03T10:00:00Z DBG github.com/traefik/traefik/v3/pkg/proxy/httputil/proxy.go:113 > 502 Bad Gateway error="read tcp 10.0.0.2:51234->10.0.0.7:80: read: connection reset by peer"',
        "traefik",
        "upstream_bad_response",
    ),
    (
        "n-novalid",
        '2026/12/03 10:00:00 [error] 812#812: *7 upstream sent no valid HTTP/1.0 header while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "n-chunked",
        '2026/12/03 10:00:00 [error] 812#812: *7 upstream sent invalid chunked response while reading upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "n-cl-te",
        '2026/12/03 10:00:00 [error] 812#812: *7 upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "n-invalidstatus",
        '2026/12/03 10:00:00 [error] 812#812: *7 upstream sent invalid status "abc" while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "n-noresolver",
        '2026/12/03 10:00:00 [error] 812#812: *7 no resolver defined to resolve backend.internal, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", host: "shop.example"',
        "nginx",
        "upstream_dns",
    ),
    (
        "n-hostnotfound",
        '2026/12/03 10:00:00 [emerg] 1#1: host not found in upstream "app:8000" in /etc/nginx/conf.d/default.conf:12',
        "nginx",
        "upstream_dns",
    ),
    (
        "n-hostnotfound2",
        'nginx: [emerg] host not found in upstream "backend" in /etc/nginx/nginx.conf:40',
        "nginx",
        "upstream_dns",
    ),
    (
        "n-sslread",
        '2026/12/03 10:00:00 [error] 812#812: *7 SSL_do_handshake() failed (SSL: error:14094410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:SSL alert number 40) while SSL handshaking to upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_tls",
    ),
    (
        "n-recv111",
        '2026/12/03 10:00:00 [error] 812#812: *7 recv() failed (111: Connection refused) while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_refused",
    ),
    (
        "n-upgraded",
        '2026/12/03 10:00:00 [error] 812#812: *7 recv() failed (104: Connection reset by peer) while proxying upgraded connection, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "n-resolv-to",
        '2026/12/03 10:00:00 [error] 812#812: *7 backend.internal could not be resolved (110: Operation timed out), client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", host: "shop.example"',
        "nginx",
        "upstream_dns",
    ),
    (
        "n-ingress-wrap",
        '[pod/ingress-nginx-controller-5c8d/controller] 2026/12/03 10:00:00 [error] 31#31: *9 upstream timed out (110: Operation timed out) while reading response header from upstream, client: 10.244.0.1, server: app.example, request: "GET / HTTP/2.0", upstream: "http://10.244.1.5:8080/", host: "app.example"',
        "nginx",
        "upstream_timeout",
    ),
    (
        "n-json",
        '{"log":"2026/12/03 10:00:00 [error] 29#29: *1 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 172.17.0.1, server: _, request: \\"GET / HTTP/1.1\\", upstream: \\"http://172.17.0.3:80/\\", host: \\"localhost\\"\\n","stream":"stderr","time":"2026-12-03T10:00:00.1Z"}',
        "nginx",
        "upstream_timeout",
    ),
    (
        "hap-json",
        '{"client_ip":"10.1.2.3","backend_name":"app","server_name":"web1","status_code":-1,"termination_state":"CD--"}',
        "haproxy",
        "client_closed",
    ),
    (
        "hap-no-srv-ingress",
        '10.244.0.1:40112 [03/Dec/2026:10:00:00.123] _front_http default_web_8080/<NOSRV> 0/-1/-1/-1/0 503 222 - - SC-- 3/3/0/0/0 0/0 "GET / HTTP/1.1"',
        "haproxy",
        "no_healthy_upstream",
    ),
    (
        "hap-sq",
        '10.1.2.3:51234 [03/Dec/2026:10:00:00.123] fe be/s1 0/0/0/-1/30001 504 194 - - sH-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"',
        "haproxy",
        "upstream_timeout",
    ),
    (
        "v-503page",
        "Error 503 Backend fetch failed\nBackend fetch failed\nGuru Meditation:\nXID: 32770\nVarnish cache server",
        "varnish",
        "upstream_refused",
    ),
    ("v-nconn", "-   FetchError     no backend connection", "varnish", "upstream_refused"),
    (
        "v-hdrlen",
        "-   FetchError     http first read error: overflow",
        "varnish",
        "upstream_header_too_big",
    ),
    (
        "v-sick2",
        "Backend_health - boot.web1 Still sick 4--X-R- 0 5 10 0.000000 0.000000 Open error 111 (Connection refused)",
        "varnish",
        "no_healthy_upstream",
    ),
    (
        "a-dns2",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy:error] [pid 2345:tid 140] (EAI 2)Name or service not known: AH00898: DNS lookup failure for: backend.internal returned by /app",
        "apache",
        "upstream_dns",
    ),
    (
        "a-refused-unix",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy:error] [pid 2345:tid 140] (2)No such file or directory: AH02454: FCGI: attempt to connect to Unix domain socket /run/php/php8.2-fpm.sock (*:80) failed",
        "apache",
        "upstream_refused",
    ),
    (
        "a-to-read",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_http:error] [pid 2345:tid 140] (70007)The timeout specified has expired: [client 10.1.2.3:51234] AH01102: error reading status line from remote server 10.0.0.7:8080",
        "apache",
        "upstream_timeout",
    ),
    (
        "a-ssl-hs",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy:error] [pid 2345:tid 140] [client 10.1.2.3:51234] AH00898: Error during SSL Handshake with remote server returned by /app",
        "apache",
        "upstream_tls",
    ),
    (
        "a-1084",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy:error] [pid 2345:tid 140] (111)Connection refused: AH00957: HTTP: attempt to connect to 127.0.0.1:8080 (localhost) failed",
        "apache",
        "upstream_refused",
    ),
    (
        "a-fcgi-to",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_fcgi:error] [pid 2345:tid 140] (70007)The timeout specified has expired: [client 10.1.2.3:51234] AH01075: Error dispatching request to : (polling)",
        "apache",
        "upstream_timeout",
    ),
    (
        "a-wstunnel",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy:error] [pid 2345:tid 140] (111)Connection refused: AH00957: WS: attempt to connect to 127.0.0.1:3000 (localhost) failed",
        "apache",
        "upstream_refused",
    ),
    (
        "e-uf",
        '[2026-12-03T10:00:00.000Z] "GET / HTTP/1.1" 503 UF 0 91 1 - "10.1.2.3" "curl/8.5.0" "5b3c" "app.example" "10.0.0.7:8080"',
        "envoy",
        "upstream_refused",
    ),
    (
        "e-urx-uf",
        '[2026-12-03T10:00:00.000Z] "GET / HTTP/1.1" 503 UF,URX 0 91 1 - "10.1.2.3" "curl/8.5.0" "5b3c" "app.example" "10.0.0.7:8080"',
        "envoy",
        "upstream_refused",
    ),
    (
        "e-dc",
        '[2026-12-03T10:00:00.000Z] "GET /stream HTTP/1.1" 0 DC 0 0 5000 - "10.1.2.3" "curl/8.5.0" "5b3c" "app.example" "10.0.0.7:8080"',
        "envoy",
        "client_closed",
    ),
    (
        "e-ut",
        '[2026-12-03T10:00:00.000Z] "GET / HTTP/2" 504 UT 0 24 15001 - "10.1.2.3" "Mozilla/5.0" "5b3c" "app.example" "10.0.0.7:8080"',
        "envoy",
        "upstream_timeout",
    ),
    (
        "e-tls3",
        "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: verify SAN list:TLS_error_end",
        "envoy",
        "upstream_tls",
    ),
    (
        "t-refused",
        'time="2026-12-03T10:00:00Z" level=debug msg="\'502 Bad Gateway\' caused by: dial tcp 10.0.0.7:80: connect: connection refused"',
        "traefik",
        "upstream_refused",
    ),
    (
        "t-timeout",
        'time="2026-12-03T10:00:00Z" level=debug msg="\'504 Gateway Timeout\' caused by: net/http: timeout awaiting response headers"',
        "traefik",
        "upstream_timeout",
    ),
    (
        "t-tls",
        'time="2026-12-03T10:00:00Z" level=debug msg="\'500 Internal Server Error\' caused by: tls: failed to verify certificate: x509: certificate signed by unknown authority"',
        "traefik",
        "upstream_tls",
    ),
    (
        "t-nas",
        '2026-12-03T10:00:00Z DBG github.com/traefik/traefik/v3/pkg/proxy/httputil/proxy.go:113 > 503 Service Unavailable error="no available server"',
        "traefik",
        "no_healthy_upstream",
    ),
    (
        "cf-refused",
        '2026-12-03T10:00:00Z ERR  error="Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared: dial tcp [::1]:8080: connect: connection refused" cfRay=8a1b2c3d4e5f6a7b-FRA originService=http://localhost:8080',
        "cloudflared",
        "upstream_refused",
    ),
    (
        "cf-dns",
        '2026-12-03T10:00:00Z ERR  error="Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared: dial tcp: lookup app on 127.0.0.11:53: no such host" cfRay=8a1b2c3d4e5f6a7b-FRA originService=http://app:8080',
        "cloudflared",
        "upstream_dns",
    ),
    (
        "cf-to",
        '2026-12-03T10:00:00Z ERR  error="Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared: dial tcp 10.0.0.7:8080: i/o timeout" cfRay=8a1b2c3d4e5f6a7b-FRA originService=http://10.0.0.7:8080',
        "cloudflared",
        "upstream_timeout",
    ),
    (
        "cf-ctx2",
        '2026-12-03T10:00:00Z ERR Failed to handle QUIC stream error="context canceled" connIndex=1 event=1 ip=198.41.200.13',
        "cloudflared",
        "client_closed",
    ),
    (
        "cf-eof",
        '2026-12-03T10:00:00Z ERR  error="Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared: EOF" cfRay=8a1b2c3d4e5f6a7b-FRA originService=http://localhost:8080',
        "cloudflared",
        "upstream_bad_response",
    ),
    (
        "k-refused",
        '2026/12/03 10:00:00 [error] 1290#0: *5961 connect() failed (111: Connection refused) while connecting to upstream, client: 10.1.2.3, server: kong, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "api.example"',
        "kong",
        "upstream_refused",
    ),
    (
        "k-dns-body",
        '{"message":"name resolution failed","request_id":"5b3c"}',
        "kong",
        "upstream_dns",
    ),
    (
        "k-timeout-body",
        '{"message":"The upstream server is timing out","request_id":"5b3c"}',
        "kong",
        "upstream_timeout",
    ),
    (
        "k-balancer",
        '2026/12/03 10:00:00 [error] 22#0: *3345 [lua] balancer.lua:275: queryDns(): [ring-balancer] querying dns for backend.internal failed: dns server error: 3 name error, client: 10.1.2.3, server: kong, request: "GET / HTTP/1.1", host: "api.example"',
        "kong",
        "upstream_dns",
    ),
    (
        "fpm-max",
        "[03-Dec-2026 10:00:00] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it",
        "php-fpm",
        "upstream_overloaded",
    ),
    (
        "fpm-slow",
        "[03-Dec-2026 10:00:00] WARNING: [pool www] child 1234, script '/var/www/index.php' (request: \"GET /index.php\") execution timed out (30.012 sec), terminating",
        "php-fpm",
        "upstream_timeout",
    ),
    (
        "fpm-exit",
        "[03-Dec-2026 10:00:00] WARNING: [pool www] child 1234 exited on signal 11 (SIGSEGV) after 12.3 seconds from start",
        "php-fpm",
        "upstream_bad_response",
    ),
    (
        "gu-wt",
        "[2026-12-03 10:00:00 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:17)",
        "gunicorn",
        "upstream_timeout",
    ),
    (
        "uw-harakiri",
        "Thu Dec  3 10:00:00 2026 - *** HARAKIRI ON WORKER 2 (pid: 812, try: 1) ***",
        "uwsgi",
        "upstream_timeout",
    ),
    (
        "uw-listen",
        '*** uWSGI listen queue of socket "127.0.0.1:3031" (fd: 3) full !!! (101/100) ***',
        "uwsgi",
        "upstream_overloaded",
    ),
    (
        "ats-dns",
        "[Dec  3 10:00:00.123] [ET_NET 1] ERROR: DNS Error: looking up origin.example",
        "trafficserver",
        "upstream_dns",
    ),
    (
        "caddy-refused",
        '{"level":"error","ts":1795622408.6,"logger":"http.log.error","msg":"dial tcp 127.0.0.1:8080: connect: connection refused","request":{"remote_ip":"10.1.2.3"},"duration":0.001,"status":502,"err_id":"abc","err_trace":"reverseproxy.statusError (reverseproxy.go:1269)"}',
        "caddy",
        "upstream_refused",
    ),
    (
        "e-det-111",
        '[2026-12-03T10:00:00.000Z] "GET / HTTP/1.1" 503 UF upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111} - "-" 0 91 1 - "10.1.2.3" "curl/8.5.0" "5b3c" "app.example" "10.0.0.7:8080"',
        "envoy",
        "upstream_refused",
    ),
    (
        "e-det-tls",
        '[2026-12-03T10:00:00.000Z] "GET / HTTP/1.1" 503 UF upstream_reset_before_response_started{remote_connection_failure,TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED} - "-" 0 91 1 - "10.1.2.3" "curl/8.5.0" "5b3c" "app.example" "10.0.0.7:8443"',
        "envoy",
        "upstream_tls",
    ),
    (
        "e-det-110",
        '[2026-12-03T10:00:00.000Z] "GET / HTTP/1.1" 503 UF upstream_reset_before_response_started{connection_failure,delayed_connect_error:_110} - "-" 0 91 5001 - "10.1.2.3" "curl/8.5.0" "5b3c" "app.example" "10.0.0.7:8080"',
        "envoy",
        "upstream_timeout",
    ),
    (
        "e-body-det",
        "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end",
        "envoy",
        "upstream_tls",
    ),
    (
        "uw-sigpipe",
        "SIGPIPE: writing to a closed pipe/socket/fd (probably the client disconnected) on request /api/items (ip 10.1.2.3) !!!",
        "uwsgi",
        "client_closed",
    ),
    (
        "uw-writev",
        "uwsgi_response_writev_headers_and_body_do(): Broken pipe [core/writer.c line 306] during GET /api/items (10.1.2.3)",
        "uwsgi",
        "client_closed",
    ),
    (
        "gu-sigkill",
        "[2026-12-03 10:00:00 +0000] [1] [ERROR] Worker (pid:17) was sent SIGKILL! Perhaps out of memory?",
        "gunicorn",
        "upstream_bad_response",
    ),
    (
        "gu-sig9",
        "[2026-12-03 10:00:00 +0000] [1] [WARNING] Worker with pid 17 was terminated due to signal 9",
        "gunicorn",
        "upstream_bad_response",
    ),
    (
        "vite",
        "[vite] http proxy error at /api/items:\nError: connect ECONNREFUSED 127.0.0.1:8000\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)",
        "unknown",
        "upstream_refused",
    ),
    (
        "hap-cR",
        '10.1.2.3:51234 [03/Dec/2026:10:00:00.123] fe fe/<NOSRV> -1/-1/-1/-1/5001 408 212 - - cR-- 1/1/0/0/0 0/0 "<BADREQ>"',
        "haproxy",
        "client_closed",
    ),
    (
        "hap-tcp-cd",
        "Dec  3 10:00:00 lb haproxy[7]: 10.1.2.3:51234 [03/Dec/2026:10:00:00.123] fe_tcp be_tcp/s1 1/0/60001 3012 CD 1/1/0/0/0 0/0",
        "haproxy",
        "client_closed",
    ),
    (
        "n-499",
        '10.1.2.3 - - [03/Dec/2026:10:00:00 +0000] "GET /api HTTP/1.1" 499 0 "-" "curl/8.5.0"',
        "nginx",
        "client_closed",
    ),
    (
        "n-client-closed",
        '2026/12/03 10:00:00 [info] 812#812: *7 client prematurely closed connection while reading upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "client_closed",
    ),
    (
        "n-client-timedout",
        '2026/12/03 10:00:00 [info] 812#812: *7 client timed out (110: Connection timed out) while sending to client, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "client_closed",
    ),
    (
        "n-writev-client",
        '2026/12/03 10:00:00 [info] 812#812: *7 writev() failed (104: Connection reset by peer) while sending to client, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "client_closed",
    ),
    (
        "squid-refused",
        "1733220000.123    1 10.1.2.3 TCP_MISS/503 4012 GET http://shop.example/ - HIER_DIRECT/10.0.0.7 text/html",
        "squid",
        "upstream_refused",
    ),
    (
        "caddy-text",
        '2026/12/03 10:00:00.000 ERROR http.log.error dial tcp 127.0.0.1:8080: connect: connection refused {"request": {"remote_ip": "10.1.2.3"}, "duration": 0.001, "status": 502}',
        "caddy",
        "upstream_refused",
    ),
    (
        "k-upstream-to",
        '2026/12/03 10:00:00 [error] 1290#0: *5961 upstream timed out (110: Operation timed out) while reading response header from upstream, client: 10.1.2.3, server: kong, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "api.example"',
        "kong",
        "upstream_timeout",
    ),
    (
        "apisix-to",
        '2026/12/03 10:00:00 [error] 49#49: *1 upstream timed out (110: Operation timed out) while reading response header from upstream, client: 10.1.2.3, server: _, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:80/", host: "api.example" [lua] apisix',
        "openresty",
        "upstream_timeout",
    ),
    (
        "or-lua",
        '2026/12/03 10:00:00 [error] 7#7: *3 [lua] access_by_lua(nginx.conf:42):5: failed to connect: connection refused, client: 10.1.2.3, server: _, request: "GET / HTTP/1.1", host: "api.example"',
        "openresty",
        "upstream_refused",
    ),
    (
        "g-errno110",
        "proxy: failed to connect to upstream 10.0.0.7:8080: [Errno 110] Connection timed out",
        "unknown",
        "upstream_timeout",
    ),
    (
        "g-iotimeout",
        "http: proxy error: read tcp 10.0.0.2:5000->10.0.0.7:80: i/o timeout",
        "unknown",
        "upstream_timeout",
    ),
    ("g-etimedout", "Error: connect ETIMEDOUT 10.0.0.7:443", "unknown", "upstream_timeout"),
    ("g-epipe", "proxy error: Error: write EPIPE", "unknown", "upstream_bad_response"),
    (
        "g-unixnoent",
        "http: proxy error: dial unix /run/app.sock: connect: no such file or directory",
        "unknown",
        "upstream_refused",
    ),
    (
        "g-noroute",
        "http: proxy error: dial tcp 10.0.0.7:8080: connect: no route to host",
        "unknown",
        "upstream_refused",
    ),
    (
        "g-wrongver",
        "proxy error: write EPROTO 140:error:0A00010B:SSL routines::wrong version number",
        "unknown",
        "upstream_tls",
    ),
    (
        "g-cvf",
        "upstream error: SSL routines:tls_process_server_certificate:certificate verify failed",
        "unknown",
        "upstream_tls",
    ),
    (
        "g-errno111",
        "upstream request failed: [Errno 111] Connection refused",
        "unknown",
        "upstream_refused",
    ),
    ("g-econnreset", "proxy error: read ECONNRESET", "unknown", "upstream_bad_response"),
    ("g-ctx", "http: proxy error: context canceled", "unknown", "client_closed"),
    (
        "g-noip",
        "upstream failed: no IP address found for backend.internal",
        "unknown",
        "upstream_dns",
    ),
    (
        "g-errno-eq-111",
        "connect to backend failed, errno=111 (Connection refused)",
        "unknown",
        "upstream_refused",
    ),
    (
        "g-errno-eq-110",
        "connect to backend failed, errno=110 (Connection timed out)",
        "unknown",
        "upstream_timeout",
    ),
    (
        "g-113",
        "connect() to 10.0.0.7:8080 failed (113: No route to host)",
        "nginx",
        "upstream_refused",
    ),
    ("g-gw-to", "[proxy] upstream 10.0.0.7:8080 error: ETIMEDOUT", "unknown", "upstream_timeout"),
    (
        "hap-dns-cfg-new",
        "[ALERT]    (1) : config : backend 'be_app': server 'app1': could not resolve address 'app'.",
        "haproxy",
        "upstream_dns",
    ),
    (
        "hap-dns-named",
        "Dec  3 10:00:00 lb haproxy[7]: Server be_app/app1 ('app') is going DOWN for maintenance (DNS NX status). 0 active and 0 backup servers left.",
        "haproxy",
        "upstream_dns",
    ),
    (
        "hap-json-cc",
        '{"client_ip":"10.1.2.3","backend_name":"app","server_name":"<NOSRV>","status_code":503,"termination_state":"CC--"}',
        "haproxy",
        "client_closed",
    ),
    (
        "a-page-tls",
        "Proxy Error\nThe proxy server could not handle the request GET /.\nReason: Error during SSL Handshake with remote server",
        "apache",
        "upstream_tls",
    ),
    (
        "a-balancer-any",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_balancer:error] [pid 1] [client 10.1.2.3:5] AH01170: balancer://mycluster: All workers are in error state",
        "apache",
        "no_healthy_upstream",
    ),
    (
        "a-prefetch-to",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_http:error] [pid 1] (70007)The timeout specified has expired: [client 10.1.2.3:5] AH01095: prefetch request body failed to 10.0.0.7:8080 (10.0.0.7) from 10.1.2.3 ()",
        "apache",
        "client_closed",
    ),
    (
        "a-prefetch-reset",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy_http:error] [pid 1] (104)Connection reset by peer: [client 10.1.2.3:5] AH01095: prefetch request body failed to 10.0.0.7:8080 (10.0.0.7) from 10.1.2.3 ()",
        "apache",
        "client_closed",
    ),
    (
        "a-connect-110",
        "[Thu Dec 03 10:00:00.123456 2026] [proxy:error] [pid 1] (110)Connection timed out: AH00957: HTTP: attempt to connect to 10.0.0.7:8080 (10.0.0.7) failed",
        "apache",
        "upstream_timeout",
    ),
    (
        "n-win-10060",
        '2026/12/03 10:00:00 [error] 812#812: *7 upstream timed out (10060: A connection attempt failed because the connected party did not properly respond after a period of time, or established connection failed because connected host has failed to respond) while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_timeout",
    ),
    (
        "n-win-10054",
        '2026/12/03 10:00:00 [error] 812#812: *7 WSARecv() failed (10054: An existing connection was forcibly closed by the remote host) while reading response header from upstream, client: 10.1.2.3, server: shop, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "shop.example"',
        "nginx",
        "upstream_bad_response",
    ),
    (
        "caddy-rp-canceled",
        '{"level":"error","ts":1795622408.6,"logger":"http.handlers.reverse_proxy","msg":"aborting with incomplete response","upstream":"127.0.0.1:8080","error":"reading: context canceled"}',
        "caddy",
        "client_closed",
    ),
    (
        "caddy-rp-refused",
        '{"level":"error","ts":1795622408.6,"logger":"http.handlers.reverse_proxy","msg":"upstream roundtrip","upstream":"app:8080","duration":0.01,"request":{"remote_ip":"10.1.2.3"},"error":"dial tcp 172.18.0.3:8080: connect: connection refused"}',
        "caddy",
        "upstream_refused",
    ),
    (
        "h2o-path",
        "[lib/core/proxy.c] failed to connect to upstream: connection refused",
        "h2o",
        "upstream_refused",
    ),
    (
        "hap-sD",
        '10.1.2.3:51000 [03/Dec/2026:10:00:00.120] fe app/web2 0/0/1/12/30012 200 1043 - - sD-- 3/3/1/1/0 0/0 "GET /export HTTP/1.1"',
        "haproxy",
        "upstream_timeout",
    ),
    (
        "hap-SD",
        '10.1.2.3:51000 [03/Dec/2026:10:00:00.120] fe app/web2 0/0/1/12/312 200 1043 - - SD-- 3/3/1/1/0 0/0 "GET /export HTTP/1.1"',
        "haproxy",
        "upstream_bad_response",
    ),
    (
        "e-json-tls",
        '{"start_time":"2026-12-03T10:00:00.410Z","response_code":503,"response_flags":"UF","response_code_details":"upstream_reset_before_response_started{remote_connection_failure,TLS_error:_268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER}","upstream_host":"10.0.0.7:8443"}',
        "envoy",
        "upstream_tls",
    ),
    (
        "e-umsdr",
        '[2026-12-03T10:00:00.000Z] "GET / HTTP/1.1" 504 UMSDR 0 24 15001 - "10.1.2.3" "curl/8.5.0" "5b3c" "app.example" "10.0.0.7:8080"',
        "envoy",
        "upstream_timeout",
    ),
    (
        "ats-verify",
        "[Dec  3 10:00:00.123] [ET_NET 1] WARNING: Core server certificate verification failed for (origin.example). Action=Terminate Error=certificate has expired server=origin.example(10.0.0.7) depth=0",
        "trafficserver",
        "upstream_tls",
    ),
]


@pytest.mark.parametrize(
    ("text", "product", "cause"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_class_is_named(text, product, cause):
    result = explain(text)
    assert result.findings, text
    finding = result.findings[0]
    assert (finding.product, finding.cause) == (product, cause)


@pytest.mark.parametrize(
    "text",
    [
        "dial tcp 10.0.0.7:8080: connect: connection refused",
        "Error: read ECONNRESET",
        "lookup shop-app on 127.0.0.11:53: no such host",
    ],
)
def test_wording_alone_is_no_more_than_a_lead(text):
    """A message any program may write, in no product's format and naming none, proves
    its cause less surely than a gateway's own line: at most 70 %."""
    (finding,) = explain(text).findings
    assert finding.product == "unknown"
    assert finding.confidence <= 0.7


def test_a_server_taken_out_of_a_pool_that_still_has_others_is_a_weaker_lead():
    down = (
        "Server app/web1 is DOWN, reason: Layer4 connection problem, "
        'info: "Connection refused", check duration: 0ms. {} active and 0 backup servers left.'
    )
    (last,) = explain(down.format(0)).findings
    (one_of_two,) = explain(down.format(1)).findings
    assert last.cause == one_of_two.cause == "no_healthy_upstream"
    assert last.confidence > one_of_two.confidence


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            "20261125.14h46m55s CONNECT: could not connect to 10.0.0.7 for "
            "'http://shop.example/?session=SECRET' (setting last failure time) connect_result=111",
            "upstream_refused",
        ),
        (
            "[Nov 25 14:46:55.123] [ET_NET 1] ERROR: CONNECT Error: ETIMEDOUT: Connection timed out "
            "[110] connecting to 10.0.0.7:8080 for 'http://shop.example/?token=SECRET' "
            "(setting last failure time)",
            "upstream_timeout",
        ),
    ],
)
def test_traffic_server_s_failed_connect_is_quoted_without_its_url(text, cause):
    (finding,) = explain(text).findings
    assert (finding.product, finding.cause) == ("trafficserver", cause)
    assert "SECRET" not in finding.evidence and "shop.example" not in finding.evidence


@pytest.mark.parametrize("width", [60, 80, 100])
def test_a_line_a_terminal_cut_at_its_width_is_read_whole(width):
    """Copied from a terminal, one long line comes as several, cut mid-word."""
    line = (
        "Nov 25 14:46:55 lb1 haproxy[655]: 10.1.2.3:48847 [25/Nov/2026:14:46:55.054] "
        "fe_tls be_tcp/web1 9998/-1/12140 213 SC 0/0/0/0/3 0/0"
    )
    cut = "\n".join(line[i : i + width] for i in range(0, len(line), width))
    (finding,) = explain(cut).findings
    assert (finding.product, finding.cause) == ("haproxy", "upstream_refused")
