package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// Declarative configuration (issue 19): with declarative: true the
// configuration file is the truth for the clients, local accounts and
// connectors it declares. broker/server removes at start what the file no
// longer has; here the admin API refuses to change what it has, and marks
// it in its answers ("managed_by": "file").

// ManagedByFile is the managed_by of an entry the file manages.
const ManagedByFile = "file"

// FileManaged are the entries the file manages, by id (Options).
type FileManaged struct {
	Clients    map[string]bool
	Accounts   map[string]bool // local account ids
	Connectors map[string]bool
}

// managedBy is ManagedByFile for an entry of kind ("client", "account",
// "connector") the file manages, else "".
func (api *API) managedBy(kind, id string) string {
	m := api.opts.FileManaged
	if m == nil {
		return ""
	}
	set := map[string]map[string]bool{"client": m.Clients, "account": m.Accounts, "connector": m.Connectors}[kind]
	if set[id] {
		return ManagedByFile
	}
	return ""
}

// adminManaged refuses, with 409, every change through the admin API to an
// entry the file manages: the next start would undo it.
func (api *API) adminManaged(c *gin.Context) {
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		return
	}
	path := c.FullPath()
	if i := strings.Index(path, "/admin/v1/"); i >= 0 {
		path = path[i+len("/admin/v1"):]
	}
	if (path == "/clients/:id" || path == "/clients/:id/secret") && api.reserved(c, c.Param("id")) {
		return
	}
	if api.opts.FileManaged == nil {
		return
	}
	var kind string
	switch path {
	case "/clients/:id", "/clients/:id/secret":
		kind = "client"
	case "/accounts/:id", "/accounts/:id/password":
		kind = "account"
	case "/connectors/:id":
		kind = "connector"
	default:
		return
	}
	if api.managedBy(kind, c.Param("id")) != "" {
		adminError(c, http.StatusConflict, "managed_by_file",
			"this "+kind+" is managed by the configuration file (declarative: true); change it there and restart")
	}
}

// reserved refuses, with 409, a change to a client Portico itself keeps
// (the admin console's): deleting or changing it would lock every
// administrator out of the console until a restart made it again.
func (api *API) reserved(c *gin.Context, id string) bool {
	if !slices.Contains(api.opts.ReservedClients, id) {
		return false
	}
	adminError(c, http.StatusConflict, "reserved", "client "+id+" is Portico's own (the admin console's); set admin.console in the configuration instead")
	return true
}
