package console

import (
	"fmt"
	"github.com/gin-gonic/gin"
	"slices"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// A chart is an SVG bar chart of events per hour over the last day, one
// group of bars an hour, a bar a series: drawn on the server, no script.
type chart struct {
	ID, Title, Desc string
	Width, Height   int
	Bars            []bar
	Series          []series
}

type bar struct {
	X, Y, W, H int
	Series     int
	Label      string
}

type series struct {
	Name      string
	Hour, Day int
}

const (
	chartHours  = 24
	chartHeight = 120
	slot        = 24 // px an hour
)

// hourly charts the events of types, one series a type.
func (c *Console) hourly(g *gin.Context, evs []store.AuditEvent, now time.Time, titleID string, types ...string) chart {
	counts := make([][chartHours]int, len(types))
	ch := chart{ID: strings.ReplaceAll(titleID, ".", "-"), Title: c.t(g, titleID), Width: chartHours * slot, Height: chartHeight}
	for _, ev := range evs {
		i := slices.Index(types, ev.Type)
		age := now.Sub(ev.Time)
		if i < 0 || age < 0 || age >= chartHours*time.Hour {
			continue
		}
		counts[i][chartHours-1-int(age/time.Hour)]++
	}
	peak := 1
	for _, cs := range counts {
		for _, n := range cs {
			peak = max(peak, n)
		}
	}
	w := (slot - 4) / len(types)
	var desc []string
	for i, typ := range types {
		s := series{Name: typ}
		for h, n := range counts[i] {
			s.Day += n
			if h == chartHours-1 {
				s.Hour = n
			}
			if n == 0 {
				continue
			}
			bh := max(1, n*(chartHeight-4)/peak)
			ch.Bars = append(ch.Bars, bar{X: h*slot + 2 + i*w, Y: chartHeight - bh, W: w, H: bh, Series: i,
				Label: fmt.Sprintf("%s: %d, %d h ago", typ, n, chartHours-1-h)})
		}
		ch.Series = append(ch.Series, s)
		desc = append(desc, fmt.Sprintf("%s %d in the last hour, %d in the last day", typ, s.Hour, s.Day))
	}
	ch.Desc = strings.Join(desc, "; ")
	return ch
}

// connectorCount is one connector's logins over the last day.
type connectorCount struct {
	ID         string
	OK, Failed int
}

func byConnector(evs []store.AuditEvent, now time.Time) []connectorCount {
	m := map[string]*connectorCount{}
	for _, ev := range evs {
		if ev.ConnectorID == "" || now.Sub(ev.Time) >= 24*time.Hour {
			continue
		}
		cc := m[ev.ConnectorID]
		if cc == nil {
			cc = &connectorCount{ID: ev.ConnectorID}
			m[ev.ConnectorID] = cc
		}
		switch ev.Type {
		case "login.success":
			cc.OK++
		case "login.failure":
			cc.Failed++
		}
	}
	var out []connectorCount
	for _, cc := range m {
		if cc.OK+cc.Failed > 0 {
			out = append(out, *cc)
		}
	}
	slices.SortFunc(out, func(a, b connectorCount) int { return strings.Compare(a.ID, b.ID) })
	return out
}
