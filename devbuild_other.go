//go:build !dev

package main

// devBuild: not a dev build; no dev server is compiled in.
const devBuild = false
