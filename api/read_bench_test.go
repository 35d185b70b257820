package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/gctune"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
	"github.com/paystate/paystate/storage/viewcache"
)

// benchNoop answers every GetOrder with one reply, as the no-op baseline
// of `paystate bench` does.
type benchNoop struct {
	pb.UnimplementedOrderServiceServer
	reply *pb.Order
}

func (n *benchNoop) GetOrder(context.Context, *pb.GetOrderRequest) (*pb.Order, error) {
	return n.reply, nil
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchReadOrders = 2000

// BenchmarkGetOrder measures one GetOrder over loopback, client and
// server in this process as in `paystate bench`, next to the same bench's
// no-op baseline: the real Server (interceptors, store view, reply) over
// a SQLite store of 2 000 orders, with and without the view cache the
// server puts in front of SQLite, and a bare grpc.Server answering a
// prepared reply. Besides ns/op (wall, noisy on a shared machine) it
// reports cpu-µs/op, the process's CPU time per call (client included),
// which a loaded machine changes much less.
//
//	go test -run XXX -bench GetOrder -benchtime 20000x ./api/
func BenchmarkGetOrder(b *testing.B) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "paystate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err = store.Update(ctx, func(tx storage.Tx) error {
		for i := range benchReadOrders {
			if err := tx.PutAggregate(ctx, storage.Aggregate{
				Key:               storage.AggregateKey{Provider: ngenius.Name, Kind: string(sm.KindPayment), ID: benchReadID(i)},
				MerchantReference: "ref-" + benchReadID(i), State: "authorized", ProviderStatus: "AUTHORISED",
				Currency: "AED", Amount: 12345, Authorized: 12345, Version: 1, CreatedAt: at, UpdatedAt: at,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	p := hardNGenius()
	machines, err := sm.NewRegistry(p.Tables()...)
	if err != nil {
		b.Fatal(err)
	}
	// The collector tuned as the server tunes it.
	gcCtx, stopGC := context.WithCancel(ctx)
	defer stopGC()
	go gctune.Run(gcCtx, gctune.DefaultFloor, time.Second)
	// serve runs a Server over store as `paystate serve` wires it: the
	// store bounded, and with a view cache in front when cached.
	serve := func(cached bool) (grpcAddr, httpAddr string) {
		bounded := storage.WithTimeout(store, storage.DefaultTimeout)
		if cached {
			bounded = viewcache.New(0).Wrap(bounded)
		}
		srv := NewServer(Options{
			Store: bounded, Machines: machines, Engine: nopEngine{},
			Providers: map[string]providers.Provider{ngenius.Name: p}, Log: hardQuiet,
			Tokens: []Token{{Name: "ops", Role: "reader", SHA256: HashToken(hardAdmin)}},
		})
		grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		httpLis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(sctx, grpcLis, httpLis) }()
		b.Cleanup(func() { stop(); <-served })
		return grpcLis.Addr().String(), "http://" + httpLis.Addr().String()
	}
	client := func(addr string) pb.OrderServiceClient {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		return pb.NewOrderServiceClient(conn)
	}
	plainGRPC, plainHTTP := serve(false)
	cachedGRPC, cachedHTTP := serve(true)
	orders, cachedOrders := client(plainGRPC), client(cachedGRPC)
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+hardAdmin)
	sample, err := orders.GetOrder(actx, &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: benchReadID(0)})
	if err != nil {
		b.Fatal(err)
	}

	// The baselines: a bare gRPC server and a gateway route registered
	// in-process, both answering sample.
	nlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterOrderServiceServer(gs, &benchNoop{reply: sample})
	go gs.Serve(nlis)
	defer gs.Stop()
	nconn, err := grpc.NewClient(nlis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer nconn.Close()
	noop := pb.NewOrderServiceClient(nconn)
	mux := gwruntime.NewServeMux()
	if err := pb.RegisterOrderServiceHandlerServer(ctx, mux, &benchNoop{reply: sample}); err != nil {
		b.Fatal(err)
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(hlis)
	defer hs.Close()

	grpcGet := func(c pb.OrderServiceClient, ctx context.Context) func(i int) error {
		return func(i int) error {
			_, err := c.GetOrder(ctx, &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: benchReadID(i % benchReadOrders)})
			return err
		}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer hc.CloseIdleConnections()
	restGet := func(base string) func(i int) error {
		return func(i int) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/providers/ngenius/orders/"+benchReadID(i%benchReadOrders), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+hardAdmin)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET: %s", resp.Status)
			}
			return nil
		}
	}
	cases := []struct {
		name string
		call func(i int) error
	}{
		{"grpc/noop", grpcGet(noop, ctx)},
		{"grpc/paystate", grpcGet(orders, actx)},
		{"grpc/cached", grpcGet(cachedOrders, actx)},
		{"rest/noop", restGet("http://" + hlis.Addr().String())},
		{"rest/paystate", restGet(plainHTTP)},
		{"rest/cached", restGet(cachedHTTP)},
	}
	for _, streams := range []int{1, 16} {
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/streams=%d", c.name, streams), func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism((streams + 1) / 2) // GOMAXPROCS is 2 here; RunParallel runs p×GOMAXPROCS
				cpu0 := processCPU()
				b.ResetTimer()
				var next atomic.Int64
				var failed atomic.Value
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := c.call(int(next.Add(1))); err != nil {
							failed.CompareAndSwap(nil, err.Error())
						}
					}
				})
				b.StopTimer()
				if err := failed.Load(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
			})
		}
	}
}

func benchReadID(i int) string { return fmt.Sprintf("bench-order-%07d", i) }
