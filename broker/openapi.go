package broker

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// adminOpenAPI describes the admin API; admin_test.go calls every
// operation it lists, so it cannot drift from the handlers unnoticed.
//
//go:embed openapi.json
var adminOpenAPI []byte

// AdminOpenAPI returns the OpenAPI 3 document of the admin API.
func AdminOpenAPI() []byte { return adminOpenAPI }

func (b *Broker) handleAdminOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", adminOpenAPI)
}
