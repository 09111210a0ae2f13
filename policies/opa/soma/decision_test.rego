package soma.decision_test

import rego.v1

import data.soma.decision

base := {"tenant": "t1", "persona": "p1", "context": {}}

test_web_search_allowed_without_checks if {
	r := decision.result with input as object.union(base, {"action": "tool.request", "resource": "web_search", "payload": {"query": "asyncio"}})
	r.allow
	r.checks == []
}

test_unknown_action_denied if {
	r := decision.result with input as object.union(base, {"action": "tool.destroy", "resource": "web_search", "payload": {}})
	not r.allow
	"C6: unknown action \"tool.destroy\"" in r.reasons
}

test_http_fetch_allowed_domain_needs_grant if {
	r := decision.result with input as object.union(base, {"action": "tool.request", "resource": "http_fetch", "payload": {"url": "https://docs.python.org/3/"}})
	r.allow
	r.checks == [{"object": "tool:t1/http_fetch", "relation": "user", "user": "persona:t1/p1"}]
}

test_http_fetch_other_domain_denied if {
	r := decision.result with input as object.union(base, {"action": "tool.request", "resource": "http_fetch", "payload": {"url": "http://evil.test/x"}})
	not r.allow
	"C2: host \"evil.test\" is not on the allow-list" in r.reasons
}

test_http_fetch_lookalike_domain_denied if {
	r := decision.result with input as object.union(base, {"action": "tool.request", "resource": "http_fetch", "payload": {"url": "https://notexample.com/"}})
	not r.allow
}

test_http_fetch_without_url_denied if {
	r := decision.result with input as object.union(base, {"action": "tool.request", "resource": "http_fetch", "payload": {}})
	not r.allow
	"C2: http_fetch needs a string url argument" in r.reasons
}

test_secret_in_arguments_denied if {
	r := decision.result with input as object.union(base, {"action": "tool.execute", "resource": "code_execution", "payload": {"code": "key = 'AKIAABCDEFGHIJKLMNOP'"}})
	not r.allow
	"C1: the payload carries secret material" in r.reasons
}

test_code_timeout_limit if {
	r := decision.result with input as object.union(base, {"action": "tool.request", "resource": "code_execution", "payload": {"code": "1"}, "context": {"timeout_s": 500}})
	not r.allow
}

test_memory_open_namespace_no_checks if {
	r := decision.result with input as object.union(base, {"action": "memory.write", "resource": "default", "payload": {"text": "likes tea"}})
	r.allow
	r.checks == []
}

test_memory_private_namespace_needs_writer if {
	r := decision.result with input as object.union(base, {"action": "memory.write", "resource": "finance", "payload": {"text": "x"}})
	r.checks == [{"object": "memory_namespace:t1/finance", "relation": "writer", "user": "persona:t1/p1"}]
}

test_memory_too_big_denied if {
	r := decision.result with input as object.union(base, {"action": "memory.write", "resource": "default", "payload": {"text": sprintf("%020000d", [0])}})
	not r.allow
}

test_requeue_resolve_asks_for_admin if {
	r := decision.result with input as {"tenant": "t1", "persona": "alice", "action": "requeue.resolve", "resource": "rq-1", "payload": {}, "context": {}}
	r.allow
	r.checks == [{"object": "tenant:t1", "relation": "admin", "user": "user:alice"}]
}

test_colon_ids_are_escaped_for_openfga if {
	r := decision.result with input as {"tenant": "acme:eu", "persona": "p:1", "action": "tool.request", "resource": "http_fetch", "payload": {"url": "https://example.com/"}, "context": {}}
	r.checks == [{"object": "tool:acme%3Aeu/http_fetch", "relation": "user", "user": "persona:acme%3Aeu/p%3A1"}]
}

test_colon_subject_escaped_for_admin_check if {
	r := decision.result with input as {"tenant": "acme:eu", "persona": "sso:alice", "action": "requeue.resolve", "resource": "rq-1", "payload": {}, "context": {}}
	r.checks == [{"object": "tenant:acme%3Aeu", "relation": "admin", "user": "user:sso%3Aalice"}]
}
