# Ids as OpenFGA object ids: OpenFGA refuses ':' inside an id, so it is written %3A
# (ids never contain '%', so the mapping is one-to-one). Mirrors adapters/openfga refs.
package soma.ids

import rego.v1

fga(id) := replace(id, ":", "%3A")

persona(tenant, persona) := sprintf("persona:%s/%s", [fga(tenant), fga(persona)])

in_tenant(kind, tenant, id) := sprintf("%s:%s/%s", [kind, fga(tenant), fga(id)])
