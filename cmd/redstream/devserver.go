package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream/internal/devserver"
)

func (a *app) devServerCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "dev-server [--addr 127.0.0.1:6379]",
		Short: "Run an in-memory Redis-compatible server in the foreground (nothing is persisted)",
		Long: `dev-server runs an embedded, in-memory Redis-compatible server until SIGINT
or SIGTERM, so publish, consume, info and demo can be tried in several
terminals without installing Redis. Nothing is persisted: all its data is
gone when it stops. It is for trying things out, not for production.`,
		Example: "  redstream dev-server\n  redstream dev-server --addr 127.0.0.1:7000",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if err := checkHostPort("addr", addr, "127.0.0.1:6379"); err != nil {
				return err
			}
			host, _, _ := net.SplitHostPort(addr)
			srv, err := devserver.Start(addr)
			if err != nil {
				if errors.Is(err, syscall.EADDRINUSE) {
					return &cliError{
						msg: fmt.Sprintf("cannot listen on %s: the address is already in use (is a Redis server running there? choose another with --addr)", addr),
						err: err,
					}
				}
				return fmt.Errorf("cannot start the dev server: %w", err)
			}
			defer srv.Close()
			url := srv.URL()
			fmt.Fprintf(a.stdout, "redstream dev-server: in-memory Redis-compatible server at %s\n", url)
			fmt.Fprintln(a.stdout, "nothing is persisted: all data is lost when it stops; Ctrl-C stops it")
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				fmt.Fprintf(a.stdout, "warning: it listens on %s without a password: anyone who can reach that address can read and change its data\n", addr)
			}
			fmt.Fprintln(a.stdout, "try, in other terminals:")
			fmt.Fprintf(a.stdout, "  redstream consume --redis %s --stream tickets --group tickets-consumer-group\n", url)
			fmt.Fprintf(a.stdout, "  redstream publish --redis %s --stream tickets whatHappened='ticket received' ticketID=42 ticketData='some ticket data'\n", url)
			fmt.Fprintf(a.stdout, "  redstream info --redis %s --stream tickets\n", url)
			<-cmd.Context().Done()
			srv.Close()
			fmt.Fprintln(a.stdout, "dev-server stopped; its data is gone")
			return nil
		}),
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:6379", "the host:port to listen on (port 0 picks a free one)")
	return cmd
}
