package scim

import "strings"

// Schema URNs (RFC 7643 §8.7, RFC 7644 §3).
const (
	URNUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	URNPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	URNSPConfig   = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	URNSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	URNResType    = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
)

// Attribute types and characteristics (RFC 7643 §2.2, §7).
const (
	tString, tBool, tComplex, tRef, tDate, tInt = "string", "boolean", "complex", "reference", "dateTime", "integer"
	readWrite, readOnly, immutable              = "readWrite", "readOnly", "immutable"
)

// attr is one attribute of a schema, as RFC 7643 §7 describes it; the
// Schemas endpoint serves these, and validation, filters and PATCH read
// them.
type attr struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Multi       bool     `json:"multiValued"`
	Description string   `json:"description,omitempty"`
	Required    bool     `json:"required"`
	CaseExact   bool     `json:"caseExact"`
	Mutability  string   `json:"mutability"`
	Returned    string   `json:"returned"`
	Uniqueness  string   `json:"uniqueness"`
	Canonical   []string `json:"canonicalValues,omitempty"`
	RefTypes    []string `json:"referenceTypes,omitempty"`
	Sub         []*attr  `json:"subAttributes,omitempty"`
}

// schema is a schema: the core one of a resource type or an extension.
type schema struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Attrs       []*attr `json:"attributes"`
}

// find returns the attribute named name, compared without case (RFC 7643
// §2.1), or nil.
func find(attrs []*attr, name string) *attr {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

func str(name string, opts ...func(*attr)) *attr {
	a := &attr{Name: name, Type: tString, Mutability: readWrite, Returned: "default", Uniqueness: "none"}
	for _, o := range opts {
		o(a)
	}
	return a
}

func typ(t string) func(*attr)   { return func(a *attr) { a.Type = t } }
func multi(a *attr)              { a.Multi = true }
func required(a *attr)           { a.Required = true }
func exact(a *attr)              { a.CaseExact = true }
func ro(a *attr)                 { a.Mutability = readOnly }
func unique(a *attr)             { a.Uniqueness = "server" }
func always(a *attr)             { a.Returned = "always" }
func sub(s ...*attr) func(*attr) { return func(a *attr) { a.Type, a.Sub = tComplex, s } }
func desc(d string) func(*attr)  { return func(a *attr) { a.Description = d } }

// multiComplex is the usual shape of emails, phoneNumbers and the like.
func multiComplex(name string, extra ...*attr) *attr {
	s := append([]*attr{str("value"), str("display"), str("type"), str("primary", typ(tBool))}, extra...)
	return str(name, multi, sub(s...))
}

// common are the attributes of every resource (RFC 7643 §3.1): id and meta
// are the server's; externalId is the provisioner's.
var common = []*attr{
	str("id", exact, ro, always, unique),
	str("externalId", exact),
	str("meta", ro, sub(str("resourceType", exact, ro), str("created", typ(tDate), ro), str("lastModified", typ(tDate), ro),
		str("location", typ(tRef), ro), str("version", exact, ro))),
}

var userSchema = &schema{ID: URNUser, Name: "User", Description: "User Account", Attrs: []*attr{
	str("userName", required, unique, desc("Unique identifier for the User; with subject: userName, the bound connector's subject.")),
	str("name", sub(str("formatted"), str("familyName"), str("givenName"), str("middleName"),
		str("honorificPrefix"), str("honorificSuffix"))),
	str("displayName"), str("nickName"), str("profileUrl", typ(tRef)), str("title"), str("userType"),
	str("preferredLanguage"), str("locale"), str("timezone"),
	str("active", typ(tBool), desc("false deprovisions: the user's sessions and tokens end at once.")),
	multiComplex("emails"), multiComplex("phoneNumbers"), multiComplex("ims"), multiComplex("photos"),
	str("addresses", multi, sub(str("formatted"), str("streetAddress"), str("locality"), str("region"),
		str("postalCode"), str("country"), str("type"), str("primary", typ(tBool)))),
	str("groups", multi, ro, sub(str("value", exact, ro), str("$ref", typ(tRef), ro), str("display", ro), str("type", ro))),
	multiComplex("entitlements"), multiComplex("roles"), multiComplex("x509Certificates"),
}}

var enterpriseSchema = &schema{ID: URNEnterprise, Name: "EnterpriseUser", Description: "Enterprise User", Attrs: []*attr{
	str("employeeNumber"), str("costCenter"), str("organization"), str("division"), str("department"),
	str("manager", sub(str("value", exact), str("$ref", typ(tRef)), str("displayName", ro))),
}}

var groupSchema = &schema{ID: URNGroup, Name: "Group", Description: "Group; its displayName is the group in Portico's tokens", Attrs: []*attr{
	str("displayName", required, unique),
	str("members", multi, sub(str("value", exact, immutable0), str("$ref", typ(tRef), immutable0),
		str("display", immutable0), str("type", immutable0))),
}}

func immutable0(a *attr) { a.Mutability = immutable }

// resourceType is a kind of resource this server serves.
type resourceType struct {
	Name       string
	Endpoint   string
	Schema     *schema
	Extensions []*schema
}

var (
	userType  = &resourceType{Name: "User", Endpoint: "/Users", Schema: userSchema, Extensions: []*schema{enterpriseSchema}}
	groupType = &resourceType{Name: "Group", Endpoint: "/Groups", Schema: groupSchema}
)

// extension returns the extension schema of rt whose URN is urn (without
// case), or nil.
func (rt *resourceType) extension(urn string) *schema {
	for _, s := range rt.Extensions {
		if strings.EqualFold(s.ID, urn) {
			return s
		}
	}
	return nil
}

// lookup finds the attribute a filter or path names: name in the core
// schema (or common attributes) when uri is "" or the core URN, else in
// the extension uri. It returns the key of the map holding it ("" for
// the top level) and the attribute, or nil.
func (rt *resourceType) lookup(uri, name string) (string, *attr) {
	if uri == "" || strings.EqualFold(uri, rt.Schema.ID) {
		if a := find(common, name); a != nil {
			return "", a
		}
		return "", find(rt.Schema.Attrs, name)
	}
	if ext := rt.extension(uri); ext != nil {
		return ext.ID, find(ext.Attrs, name)
	}
	return "", nil
}
