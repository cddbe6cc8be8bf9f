package helm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portico-idp/portico/broker/config"
)

const chart = "portico"

// helm runs the helm binary named by $HELM; `make helm-check` builds one
// from the Go module proxy and sets it. Without it the test skips: helm
// takes minutes to build, so `make test` leaves it to `make helm-check`.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		t.Skip("HELM not set: run `make helm-check` to lint and render the chart")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errors.New(errOut.String() + err.Error())
	}
	return out.String(), nil
}

// TestLint: helm lint --strict passes with each CI values file.
func TestLint(t *testing.T) {
	for _, values := range []string{"ci/badger-values.yaml", "ci/postgres-values.yaml"} {
		t.Run(values, func(t *testing.T) {
			if out, err := helm(t, "lint", "--strict", chart, "-f", chart+"/"+values); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// object is one rendered manifest.
type object map[string]any

// get walks keys (strings for maps, ints for lists); nil when absent.
func (o object) get(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			// yaml decodes nested maps into the type of the outer one.
			switch m := cur.(type) {
			case object:
				cur = m[k]
			case map[string]any:
				cur = m[k]
			default:
				return nil
			}
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

// render runs helm template with the values file and returns the objects
// by kind.
func render(t *testing.T, values string, set ...string) map[string]object {
	t.Helper()
	args := []string{"template", "rel", chart, "-f", chart + "/" + values}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	objs := map[string]object{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var o object
		if err := dec.Decode(&o); err == io.EOF {
			return objs
		} else if err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, out)
		}
		if o == nil {
			continue
		}
		kind, _ := o["kind"].(string)
		if _, dup := objs[kind]; dup {
			t.Fatalf("two %s objects", kind)
		}
		objs[kind] = o
	}
}

// container is the Deployment's portico container.
func container(t *testing.T, objs map[string]object) object {
	t.Helper()
	c, ok := objs["Deployment"].get("spec", "template", "spec", "containers", 0).(object)
	if !ok {
		t.Fatal("no container in the Deployment")
	}
	return c
}

// portico parses the ConfigMap's portico.yaml with Portico's own loader:
// what the chart writes, the server accepts.
func portico(t *testing.T, objs map[string]object) *config.Config {
	t.Helper()
	data, _ := objs["ConfigMap"].get("data", "portico.yaml").(string)
	cfg, err := config.Parse([]byte(data))
	if err != nil {
		t.Fatalf("portico.yaml from the chart does not load: %v\n%s", err, data)
	}
	return cfg
}

// TestTemplate renders both CI values files and checks what operators rely
// on: probes on the ops port, non-root and read-only, the PDB, the config
// Portico loads, and with PostgreSQL the DSN and secrets from Secrets.
func TestTemplate(t *testing.T) {
	t.Run("badger", func(t *testing.T) {
		objs := render(t, "ci/badger-values.yaml")
		for _, k := range []string{"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "PersistentVolumeClaim"} {
			if objs[k] == nil {
				t.Errorf("no %s rendered", k)
			}
		}
		c := container(t, objs)
		checks := []struct {
			what      string
			got, want any
		}{
			{"liveness path", c.get("livenessProbe", "httpGet", "path"), "/healthz"},
			{"readiness path", c.get("readinessProbe", "httpGet", "path"), "/readyz"},
			{"probe port", c.get("readinessProbe", "httpGet", "port"), "ops"},
			{"ops port", c.get("ports", 1, "containerPort"), 9090},
			{"read-only root", c.get("securityContext", "readOnlyRootFilesystem"), true},
			{"no escalation", c.get("securityContext", "allowPrivilegeEscalation"), false},
			{"non-root", objs["Deployment"].get("spec", "template", "spec", "securityContext", "runAsNonRoot"), true},
			{"uid", objs["Deployment"].get("spec", "template", "spec", "securityContext", "runAsUser"), 65532},
			{"strategy", objs["Deployment"].get("spec", "strategy", "type"), "Recreate"},
			{"memory limit", c.get("resources", "limits", "memory"), "512Mi"},
			{"pdb", objs["PodDisruptionBudget"].get("spec", "maxUnavailable"), 1},
			{"data volume", objs["Deployment"].get("spec", "template", "spec", "volumes", 1, "persistentVolumeClaim", "claimName"), "rel-portico"},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
			}
		}
		cfg := portico(t, objs)
		if cfg.Ops.Listen != "0.0.0.0:9090" || cfg.Listen != "0.0.0.0:8080" || cfg.Storage.Type != "badger" || cfg.Storage.Dir != "/var/lib/portico" {
			t.Errorf("portico.yaml: listen %q, ops.listen %q, storage %+v", cfg.Listen, cfg.Ops.Listen, cfg.Storage)
		}
		if len(cfg.Clients) != 1 || cfg.Clients[0].ID != "app" {
			t.Errorf("the values' config did not reach portico.yaml: clients %+v", cfg.Clients)
		}
	})

	t.Run("postgres", func(t *testing.T) {
		objs := render(t, "ci/postgres-values.yaml")
		if objs["PersistentVolumeClaim"] != nil {
			t.Error("a volume claim with postgres: the replicas keep nothing on disk")
		}
		if s := objs["Deployment"].get("spec", "strategy"); s != nil {
			t.Errorf("strategy %v with postgres, want the default rolling update", s)
		}
		if r := objs["Deployment"].get("spec", "replicas"); r != 3 {
			t.Errorf("replicas %v", r)
		}
		c := container(t, objs)
		if c.get("image") != "registry.example.com/portico:v1.0.0" {
			t.Errorf("image %v", c.get("image"))
		}
		env := map[string]any{}
		for i := 0; c.get("env", i) != nil; i++ {
			env[c.get("env", i, "name").(string)] = c.get("env", i, "valueFrom", "secretKeyRef", "name")
		}
		if env["PORTICO_STORAGE_DSN"] != "portico-db" || env["LDAP_BIND_PASSWORD"] != "ldap" {
			t.Errorf("env from Secrets: %v", env)
		}
		mounts := map[string]any{}
		for i := 0; c.get("volumeMounts", i) != nil; i++ {
			mounts[c.get("volumeMounts", i, "mountPath").(string)] = c.get("volumeMounts", i, "readOnly")
		}
		for _, p := range []string{"/etc/portico/secrets", "/var/lib/portico/connector-master.key", "/etc/portico/portico.yaml"} {
			if mounts[p] != true {
				t.Errorf("%s not mounted read-only: %v", p, mounts)
			}
		}
		// The pod has the DSN in its environment, from the Secret.
		t.Setenv(config.EnvStorageDSN, "postgres://portico@db.example.com/portico")
		cfg := portico(t, objs)
		if cfg.Storage.Type != "postgres" || cfg.Storage.Schema != "portico" {
			t.Errorf("storage %+v: want postgres, schema portico", cfg.Storage)
		}
		if len(cfg.Ops.TrustedProxies) != 1 || cfg.Ops.Listen != "0.0.0.0:9090" {
			t.Errorf("ops %+v: the values' ops and the chart's ops.listen should both be there", cfg.Ops)
		}
	})
}

// TestRefused: values that would run a broken deployment fail to render,
// saying why.
func TestRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  []string
		want string
	}{
		{"badger replicas", []string{"replicaCount=2"}, "needs storage.type: postgres"},
		{"no issuer", []string{"issuer="}, "issuer is required"},
		{"no DSN secret", []string{"storage.type=postgres"}, "needs storage.postgres.existingSecret"},
		{"no shared key", []string{"storage.type=postgres", "storage.postgres.existingSecret=db", "replicaCount=2"}, "needs masterKey.existingSecret"},
		{"chart's keys", []string{"config.listen=0.0.0.0:1"}, "config.listen is set by the chart"},
		{"bad storage", []string{"storage.type=sqlite"}, "must be badger or postgres"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"template", "rel", chart, "-f", chart + "/ci/badger-values.yaml"}
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			_, err := helm(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("helm template with %v: %v, want an error saying %q", tt.set, err, tt.want)
			}
		})
	}
}
