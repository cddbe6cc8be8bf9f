// Package helm holds Portico's Helm chart (deploy/helm/portico) and its
// test, which renders the chart with helm and checks what it renders.
// `make helm-check` runs it with a helm built from the Go module proxy.
package helm
