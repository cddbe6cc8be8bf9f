package console

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// The connector form is made from the type's configuration schema (GET
// /admin/v1/connector-types, from sdk/configschema): a field per scalar
// property, nested objects as dotted names, lists of strings one per
// line, and anything else (lists of objects, maps) as JSON.

// schema is the part of a JSON Schema the form reads.
type schema struct {
	Type       string            `json:"type"`
	Format     string            `json:"format"`
	Properties map[string]schema `json:"properties"`
	Order      []string          `json:"x-order"`
	Required   []string          `json:"required"`
	Items      *schema           `json:"items"`
}

// field is one input of the form.
type field struct {
	Name, Label, Kind, Value, Hint string
	Required                       bool
}

// fields flattens s into the form's inputs, their values from form.
func fields(s schema, prefix string, form url.Values) []field {
	var out []field
	for _, name := range s.Order {
		p := s.Properties[name]
		path := prefix + name
		f := field{Name: "cfg." + path, Label: path, Value: form.Get("cfg." + path)}
		f.Required = prefix == "" && slices.Contains(s.Required, name)
		switch {
		case p.Type == "object" && len(p.Properties) > 0:
			out = append(out, fields(p, path+".", form)...)
			continue
		case p.Type == "string" && p.Format == "duration":
			f.Kind, f.Hint = "text", "console.field.duration"
		case p.Type == "string" && (strings.Contains(name, "password") || strings.Contains(name, "secret")):
			f.Kind, f.Value = "password", "" // typed again, never written back into a page
		case p.Type == "string":
			f.Kind = "text"
		case p.Type == "boolean":
			f.Kind = "checkbox"
		case p.Type == "integer" || p.Type == "number":
			f.Kind = "number"
		case p.Type == "array" && p.Items != nil && p.Items.Type == "string":
			f.Kind, f.Hint = "lines", "console.field.lines"
		default:
			f.Kind, f.Hint = "json", "console.field.json"
		}
		out = append(out, f)
	}
	return out
}

// configFrom builds the config object from the form's fields, leaving out
// what is empty: the connector's defaults apply to it.
func configFrom(s schema, prefix string, form url.Values) (map[string]any, error) {
	out := map[string]any{}
	for _, name := range s.Order {
		p := s.Properties[name]
		path := prefix + name
		v := strings.TrimSpace(form.Get("cfg." + path))
		switch {
		case p.Type == "object" && len(p.Properties) > 0:
			sub, err := configFrom(p, path+".", form)
			if err != nil {
				return nil, err
			}
			if len(sub) > 0 {
				out[name] = sub
			}
		case v == "":
		case p.Type == "boolean":
			out[name] = v == "yes"
		case p.Type == "integer":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: not a whole number", path)
			}
			out[name] = n
		case p.Type == "number":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: not a number", path)
			}
			out[name] = n
		case p.Type == "array" && p.Items != nil && p.Items.Type == "string":
			out[name] = lines(v)
		case p.Type == "string":
			out[name] = v
		default:
			var j any
			if err := json.Unmarshal([]byte(v), &j); err != nil {
				return nil, fmt.Errorf("%s: not JSON", path)
			}
			out[name] = j
		}
	}
	return out, nil
}

// connectorTypes reads the types and their schemas from the API.
func (c *Console) connectorTypes(g *gin.Context, s *sess) (map[string]schema, []string, bool) {
	var out struct {
		Types []struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"types"`
	}
	if st, e := c.api(g, s, http.MethodGet, "/connector-types", nil, &out); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return nil, nil, false
	}
	m := map[string]schema{}
	var names []string
	for _, t := range out.Types {
		var sc schema
		if json.Unmarshal(t.Schema, &sc) == nil {
			m[t.Type] = sc
			names = append(names, t.Type)
		}
	}
	return m, names, true
}

func (c *Console) connectors(g *gin.Context, s *sess) {
	c.connectorsPage(g, s, http.StatusOK, g.Query("type"), url.Values{}, nil)
}

// connectorsPage lists the connectors, with the form for a new one of
// type typ (none: the type chooser); form holds the values typed, extra
// what a test or an add said.
func (c *Console) connectorsPage(g *gin.Context, s *sess, status int, typ string, form url.Values, extra map[string]any) {
	var out struct {
		Connectors []connectorView `json:"connectors"`
	}
	if st, e := c.api(g, s, http.MethodGet, "/connectors", nil, &out); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	types, names, ok := c.connectorTypes(g, s)
	if !ok {
		return
	}
	data := map[string]any{"Connectors": out.Connectors, "Types": names, "FType": typ,
		"FID": form.Get("id"), "FName": form.Get("name")}
	if sc, ok := types[typ]; ok {
		data["Fields"] = fields(sc, "", form)
	}
	maps.Copy(data, extra)
	c.render(g, s, status, "connectors", c.t(g, "console.connectors"), data)
}

// connectorForm tests or adds the connector the form describes.
func (c *Console) connectorForm(g *gin.Context, s *sess) {
	if !c.fresh(g, s, c.path("/admin/connectors")) {
		return
	}
	typ := g.PostForm("type")
	types, _, ok := c.connectorTypes(g, s)
	if !ok {
		return
	}
	form := g.Request.PostForm
	fail := func(status int, msg string) {
		c.connectorsPage(g, s, status, typ, form, map[string]any{"Error": msg})
	}
	sc, known := types[typ]
	if !known {
		fail(http.StatusBadRequest, c.t(g, "console.connector.badType"))
		return
	}
	cfg, err := configFrom(sc, "", form)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	in := map[string]any{"id": g.PostForm("id"), "type": typ, "name": g.PostForm("name"), "config": cfg}
	test := g.PostForm("do") == "test"
	path := "/connectors"
	if test {
		path = "/connectors/test"
	}
	var res struct {
		Checked bool `json:"checked"`
	}
	switch st, e := c.api(g, s, http.MethodPost, path, in, &res); {
	case st >= 300:
		fail(st, e.String())
	case test && res.Checked:
		c.connectorsPage(g, s, http.StatusOK, typ, form, map[string]any{"Tested": c.t(g, "console.connector.tested")})
	case test:
		c.connectorsPage(g, s, http.StatusOK, typ, form, map[string]any{"Tested": c.t(g, "console.connector.built")})
	default:
		c.done(g, c.path("/admin/connectors"), "connector_added")
	}
}
