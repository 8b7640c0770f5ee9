package main

import (
	"log/slog"
	"os"
	"regexp"
	"strings"
)

// wailsLog carries Wails' own log lines into the app's log, without the
// arguments of a bound call. Wails logs a call that failed before or
// outside the method (arguments it could not parse, a panic it
// recovered) as the whole message from the page, arguments and all: a
// passphrase given to SignIn, AddOperator or Enrol, a customer's data.
// The method's name and the error stay.
type wailsLog struct{ l *slog.Logger }

func (w wailsLog) Print(m string)   { w.l.Info(redactCall(m), "from", "wails") }
func (w wailsLog) Trace(m string)   { w.l.Debug(redactCall(m), "from", "wails") }
func (w wailsLog) Debug(m string)   { w.l.Debug(redactCall(m), "from", "wails") }
func (w wailsLog) Info(m string)    { w.l.Info(redactCall(m), "from", "wails") }
func (w wailsLog) Warning(m string) { w.l.Warn(redactCall(m), "from", "wails") }
func (w wailsLog) Error(m string)   { w.l.Error(redactCall(m), "from", "wails") }

// Fatal ends the process, as Wails' default logger does.
func (w wailsLog) Fatal(m string) {
	w.l.Error(redactCall(m), "from", "wails")
	os.Exit(1)
}

// callName finds a bound call's method in a message from the page.
var callName = regexp.MustCompile(`"name":"([^"]*)"`)

// redactCall replaces the page's message in Wails' "process message
// error: MESSAGE -> ERROR" with its kind and method name.
func redactCall(m string) string {
	const prefix = "process message error: "
	rest, ok := strings.CutPrefix(m, prefix)
	if !ok {
		return m
	}
	msg, why := rest, ""
	if i := strings.LastIndex(rest, " -> "); i >= 0 {
		msg, why = rest[:i], rest[i+len(" -> "):]
	}
	kind := "message"
	if msg != "" {
		kind = "message " + msg[:1]
	}
	if n := callName.FindStringSubmatch(msg); n != nil && len(n[1]) <= 128 {
		kind += " " + n[1]
	}
	return prefix + kind + " (arguments not logged) -> " + why
}
