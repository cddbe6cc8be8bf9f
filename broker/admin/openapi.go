package admin

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPI describes the admin API; the broker's admin_test.go calls every
// operation it lists, so it cannot drift from the handlers unnoticed.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the admin API.
func OpenAPI() []byte { return openAPI }

func (api *API) handleAdminOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}
