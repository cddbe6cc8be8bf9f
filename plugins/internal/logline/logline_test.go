package logline

import (
	"fmt"
	"strings"
	"testing"
)

func TestAttrs(t *testing.T) {
	many := map[string]any{}
	for i := range MaxAttrs + 5 {
		many[fmt.Sprintf("a%02d", i)] = i
	}
	for _, tt := range []struct {
		name string
		line string
		want string // the attributes, as slog prints them; "-" for not an object
	}{
		{"flat", `{"msg":"m","users":2,"ok":true,"who":"alice"}`, "[ok=true users=2 who=alice]"},
		{"nested", `{"msg":"m","g":{"a":1}}`, `[g={"a":1}]`},
		{"control characters", `{"msg":"m","k\nforged=1":"v\r\n"}`, "[k?forged=1=v??]"},
		{"hclog names", `{"@message":"m","@module":"x"}`, "[module=x]"},
		{"not an object", `msg=m users=2`, "-"},
		{"broken", `{"msg":`, "-"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := Object([]byte(tt.line))
			if !ok {
				if tt.want != "-" {
					t.Fatalf("not an object")
				}
				return
			}
			got := fmt.Sprint(Attrs(m, func(k string) bool { return k == "msg" || k == "@message" }))
			if got != tt.want {
				t.Errorf("attrs %s, want %s", got, tt.want)
			}
		})
	}
	got := Attrs(many, func(string) bool { return false })
	if len(got) != MaxAttrs+1 || got[MaxAttrs].String() != "more_attributes=5" {
		t.Errorf("%d attributes: %v", len(got), got[len(got)-1])
	}
	long := Attrs(map[string]any{"k": strings.Repeat("x", 2*MaxAttrText)}, func(string) bool { return false })
	if n := len(long[0].Value.String()); n > MaxAttrText+3 {
		t.Errorf("an attribute of %d bytes", n)
	}
}
