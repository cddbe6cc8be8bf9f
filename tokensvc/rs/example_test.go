package rs_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/portico-idp/portico/tokensvc/rs"
)

// A resource server accepts Portico's access tokens issued for it, Bearer
// or DPoP-bound, and reads who is calling.
func Example() {
	v, err := rs.New(context.Background(), rs.Config{
		Issuer:   "https://id.example.com",  // Portico
		Audience: "https://api.example.com", // the resource indicator clients ask tokens for
		URL:      "https://api.example.com", // where clients call this server (DPoP's htu)
	})
	if err != nil {
		log.Fatal(err)
	}
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := rs.FromContext(r.Context())
		if !tok.HasScope("orders") {
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "orders of %s\n", tok.Subject)
	})
	http.Handle("/orders", v.Middleware(orders))
	log.Fatal(http.ListenAndServe(":8080", nil))
}
