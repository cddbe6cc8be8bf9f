package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// rss returns the process's resident set size from /proc/self/status
// ("VmRSS: 123456 kB" gives "123456 kB"), or "unknown".
func rss() string {
	return procField("/proc/self/status", "VmRSS")
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown".
func cpuModel() string {
	return procField("/proc/cpuinfo", "model name")
}

func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown"
}

// hostTicks returns the machine's busy and total CPU time, in clock ticks,
// from the first line of /proc/stat; zeros if unknown. Steal time (a
// hypervisor giving the core to another guest) counts as busy: the
// benchmark did not get it.
func hostTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	// user nice system idle iowait irq softirq steal ...
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}
