// The pod sandbox ("pause") process of the local node's sandbox image: it holds the pod's
// namespaces, reaps orphaned children, and exits on SIGINT/SIGTERM, like upstream's pause.c.
// Built here because no registry serves registry.k8s.io/pause to these machines.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child, so PID 1 of the pod never accumulates zombies.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
