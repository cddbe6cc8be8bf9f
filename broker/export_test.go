package broker

import (
	"slices"
	"strings"
)

// BodyRoute is a route and the body class it has (body.go), for tests
// that try every route.
type BodyRoute struct {
	Method, Path string // gin's path, with :params
	Class        string
	Limit        int64 // bytes
	Types        []string
	Ignored      bool // the route reads no body: one within Limit is dropped
}

// BodyRoutes lists every route the broker serves with its body class.
func (b *Broker) BodyRoutes() []BodyRoute {
	var out []BodyRoute
	for k, r := range b.bodies {
		m, p, _ := strings.Cut(k, " ")
		out = append(out, BodyRoute{Method: m, Path: p, Class: r.class.name, Limit: r.class.limit, Types: r.class.types, Ignored: r.class.ignore})
	}
	slices.SortFunc(out, func(a, b BodyRoute) int { return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method) })
	return out
}
