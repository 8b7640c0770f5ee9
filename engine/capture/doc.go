// Package capture runs live capture guidance: it reads frames from a
// source without ever stalling it, analyses the newest frame for a
// document or a selfie, tells the user one thing to do at a time, and
// captures the best frame of a steady, good-quality window by itself.
//
// Everything here runs on the Go side; the desktop app shows the frames and
// the Overlay each analysed frame carries.
package capture
