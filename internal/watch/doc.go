// Package watch tells the supervisor when its policy file may have changed.
//
// It watches the file's directory with inotify, not the file itself, so an
// atomic replacement by rename (what editors and configuration management
// do) is seen as well as an in-place write; and it coalesces the bursts of
// events one save makes into one call.
package watch
