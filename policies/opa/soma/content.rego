# C1: no secret material in tool arguments or memory writes (patterns in config/data.json).
package soma.content

import rego.v1

import data.soma.config

deny contains "C1: the payload carries secret material" if {
	walk(input.payload, [_, value])
	is_string(value)
	some pattern in config.secret_patterns
	regex.match(pattern, value)
}
