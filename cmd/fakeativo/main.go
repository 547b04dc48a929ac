// Command fakeativo serves the fake Ativo API of package ativotest on
// loopback, with its control API under /-/fake/, for end-to-end tests,
// benchmarks and the soak test.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ativo-exporter/ativo_exporter/ativo/ativotest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	tokenFile := flag.String("token-file", "", "file holding the accepted bearer token (default: demo-token)")
	addressFile := flag.String("address-file", "", "write the base URL to this file once listening")
	teams := flag.Int("teams", 0, "serve this many generated teams instead of the demo data set")
	flag.Parse()

	opts := []ativotest.Option{ativotest.WithControl()}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fakeativo: --token-file: %v\n", err)
			os.Exit(1)
		}
		opts = append(opts, ativotest.WithToken(strings.TrimSpace(string(b))))
	}
	if *teams > 0 {
		d := ativotest.DemoData()
		d.Teams = ativotest.GenerateTeams(*teams)
		opts = append(opts, ativotest.WithData(d))
	}
	fake := ativotest.New(opts...)
	if err := fake.StartOn(*listen); err != nil {
		fmt.Fprintf(os.Stderr, "fakeativo: --listen: %v\n", err)
		os.Exit(1)
	}
	if *addressFile != "" {
		tmp := *addressFile + ".tmp"
		err := os.WriteFile(tmp, []byte(fake.URL()+"\n"), 0o644)
		if err == nil {
			err = os.Rename(tmp, *addressFile)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "fakeativo: --address-file: %v\n", err)
			fake.Close()
			os.Exit(1)
		}
	}
	fmt.Println(fake.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fake.Close()
}
