#!/usr/bin/env bash
# Case 2: a DNS resource and wildcard ones by name through the client's
# stub resolver: the names resolve to proxy IPs (100.96.0.0/11), the
# application reaches the real host behind them; SRV and TXT queries for
# a resource name are answered from the site's DNS server.
. "$(dirname "$0")/e2e-lib.sh" "$@"
e2e_setup
e2e_start_gateway 1
e2e_start_client

grep -q "^nameserver 100.100.111." "/etc/netns/$ns_cl/resolv.conf" \
  || fail "resolv.conf does not name the stub: $(cat "/etc/netns/$ns_cl/resolv.conf")"

# proxy_ip NAME: the A record the client's stub gives for NAME.
proxy_ip () {
  on cl dig +short +time=3 +tries=2 "$1" A | tail -n 1
}
in_proxy_range () {
  python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network("100.96.0.0/11"))' "$1"
}

for name in app.corp.test one.svc.corp.test two.svc.corp.test; do
  ip=$(proxy_ip "$name")
  in_proxy_range "$ip" || fail "$name resolved to '$ip', not a proxy IP"
  body=$(e2e_curl "http://$name/") || fail "HTTP to $name ($ip)"
  [ "$body" = "hello from res" ] || fail "$name: body $body"
  echo "$name -> $ip: reached"
done
# The same name keeps its proxy IP; another gets another.
[ "$(proxy_ip app.corp.test)" = "$(proxy_ip app.corp.test)" ] || fail "app.corp.test changed its proxy IP"
[ "$(proxy_ip one.svc.corp.test)" != "$(proxy_ip two.svc.corp.test)" ] || fail "two names share a proxy IP"
# A name outside the patterns is no resource: the stub forwards it to
# the upstream resolver the system had before.
ip=$(proxy_ip other.corp.test)
[ "$ip" = 198.18.0.80 ] || fail "other.corp.test: '$ip', not the upstream's answer"

txt=$(on cl dig +short +time=3 +tries=2 app.corp.test TXT)
[ "$txt" = '"e2e-txt-record"' ] || fail "TXT: '$txt'"
srv=$(on cl dig +short +time=3 +tries=2 _http._tcp.svc.corp.test SRV)
case $srv in
  *" 80 app.corp.test.") ;;
  *) fail "SRV: '$srv'" ;;
esac
echo "TXT $txt; SRV $srv"
echo "PASS"
