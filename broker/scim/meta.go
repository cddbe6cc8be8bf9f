package scim

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// The discovery endpoints (RFC 7644 §4).

func (h *Handler) serviceProviderConfig(c *gin.Context) {
	writeJSON(c, http.StatusOK, map[string]any{
		"schemas":          []string{URNSPConfig},
		"documentationUri": "https://github.com/portico-idp/portico/blob/main/docs/scim.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": MaxCount},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "Provisioning credential", "primary": true,
			"description": "A bearer credential per provisioner, made with the admin API (POST /admin/v1/scim-provisioners)",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": h.o.BaseURL + "/ServiceProviderConfig"},
	})
}

func (h *Handler) schemaRep(s *schema) map[string]any {
	attrs := s.Attrs
	if s == userSchema || s == groupSchema {
		attrs = append(append([]*attr{}, common[:2]...), s.Attrs...) // id, externalId
	}
	return map[string]any{
		"schemas": []string{URNSchema}, "id": s.ID, "name": s.Name, "description": s.Description, "attributes": attrs,
		"meta": map[string]any{"resourceType": "Schema", "location": h.o.BaseURL + "/Schemas/" + s.ID},
	}
}

func (h *Handler) schemas(c *gin.Context) {
	all := []*schema{userSchema, enterpriseSchema, groupSchema}
	if id := c.Param("id"); id != "" {
		for _, s := range all {
			if s.ID == id {
				writeJSON(c, http.StatusOK, h.schemaRep(s))
				return
			}
		}
		writeErr(c, errf(http.StatusNotFound, "", "no schema %s", id))
		return
	}
	var reps []item
	for _, s := range all {
		reps = append(reps, item{rep: h.schemaRep(s), id: s.ID})
	}
	writeList(c, userType, listParams{start: 1, count: MaxCount}, reps)
}

func (h *Handler) resourceTypeRep(rt *resourceType) map[string]any {
	exts := []any{}
	for _, e := range rt.Extensions {
		exts = append(exts, map[string]any{"schema": e.ID, "required": false})
	}
	return map[string]any{
		"schemas": []string{URNResType}, "id": rt.Name, "name": rt.Name, "endpoint": rt.Endpoint,
		"schema": rt.Schema.ID, "schemaExtensions": exts,
		"meta": map[string]any{"resourceType": "ResourceType", "location": h.o.BaseURL + "/ResourceTypes/" + rt.Name},
	}
}

func (h *Handler) resourceTypes(c *gin.Context) {
	all := []*resourceType{userType, groupType}
	if id := c.Param("id"); id != "" {
		for _, rt := range all {
			if rt.Name == id {
				writeJSON(c, http.StatusOK, h.resourceTypeRep(rt))
				return
			}
		}
		writeErr(c, errf(http.StatusNotFound, "", "no resource type %s", id))
		return
	}
	var reps []item
	for _, rt := range all {
		reps = append(reps, item{rep: h.resourceTypeRep(rt), id: rt.Name})
	}
	writeList(c, userType, listParams{start: 1, count: MaxCount}, reps)
}
