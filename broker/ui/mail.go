package ui

import (
	"bytes"
	"cmp"
	"fmt"
	"strings"
)

// Mail: the emails Portico sends (a link to verify an address, reset a
// password, accept an invitation) are written like its pages: wording
// from the catalogue in the reader's language, the HTML part from the
// "mail" template (a theme may replace it), and a plain-text part with
// the same words, for mail readers that show no HTML and for spam
// filters that mark a message without one.

// Email is a rendered email.
type Email struct {
	Subject, Text, HTML string
}

// MailKinds are the emails Portico sends; each has catalogue ids
// mail.<kind>.subject, .intro, .button and .outro.
var MailKinds = []string{"verify", "reset", "invite", "exists", "register"}

// Mail renders the email of kind in lang to name (a greeting's name, or
// empty) with link, valid for validFor seconds.
func (p *Pages) Mail(lang, kind, name, link string, validFor float64) (Email, error) {
	if _, ok := catalogues[lang]; !ok || p.tpl[lang] == nil {
		lang = p.langs[0]
	}
	t := func(id string, args ...any) string { return p.MsgIn(lang, "mail."+kind+"."+id, args...) }
	greeting := p.textIn(lang, "mail.hello")
	if name != "" {
		greeting = p.MsgIn(lang, "mail.hello_name", name)
	}
	prod := p.Product()
	m := Email{Subject: t("subject", prod)}
	data := map[string]any{
		"Lang": lang, "Subject": m.Subject, "Product": prod, "Greeting": greeting,
		"Intro": t("intro", prod), "Button": t("button"), "Link": link,
		"LinkHelp": p.textIn(lang, "mail.link_help"),
		"Outro":    t("outro", p.durationIn(lang, validFor)),
		"Color":    cmp.Or(safeColor(p.theme.Color), "#2451b8"),
	}
	var b bytes.Buffer
	if err := p.tpl[lang].ExecuteTemplate(&b, "mail", data); err != nil {
		return Email{}, fmt.Errorf("ui: render %s mail: %w", kind, err)
	}
	m.HTML = b.String()
	m.Text = strings.Join([]string{greeting, data["Intro"].(string), data["Button"].(string) + ":\n" + link, data["Outro"].(string), "-- \n" + prod}, "\n\n") + "\n"
	return m, nil
}

func safeColor(c string) string {
	if c == "" || !safeCSSValue(c) || strings.ContainsAny(c, "()") {
		return ""
	}
	return c
}
