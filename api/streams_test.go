package api

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// restWatch opens GET /v1/journal:watch as token and reports on got the
// HTTP status once the first line of the stream (or of its error) has
// arrived. The stream stays open until ctx ends.
func restWatch(ctx context.Context, client *http.Client, base, token string, got chan<- int) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/journal:watch?after_sequence=0", nil)
	if err != nil {
		got <- -1
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		got <- -1
		return
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		got <- -1
		return
	}
	got <- resp.StatusCode
	<-ctx.Done()
}

// TestOneTokenCannotStarveOthers holds 300 REST watches open with one
// token, then checks that another token's REST watch, gRPC watch and
// reads are still answered. Each of the first token's streams must end up
// either served or refused with 429 (past the cap): none may wait in a
// queue, which is how one token used to starve the others (the REST
// watches shared one loopback connection of at most 256 streams).
func TestOneTokenCannotStarveOthers(t *testing.T) {
	const held = 300
	// Generous: these bound "answered instead of hanging", not speed.
	const patience = 60 * time.Second
	for _, maxStreams := range []int{held, 40} {
		t.Run(fmt.Sprintf("cap %d", maxStreams), func(t *testing.T) {
			s := hardSetup(t, Options{MaxStreams: maxStreams})
			header := http.Header{hardHeader: {hardSecret}, "Content-Type": {"application/json"}}
			require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/webhooks/ngenius", hardBody("AUTHORISED"), header))

			transport := &http.Transport{}
			defer transport.CloseIdleConnections()
			client := &http.Client{Transport: transport}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			got := make(chan int, held)
			for range held {
				go restWatch(ctx, client, s.http, hardAdmin, got)
			}
			served, refused := 0, 0
			deadline := time.After(patience)
			for range held {
				select {
				case code := <-got:
					switch code {
					case http.StatusOK:
						served++
					case http.StatusTooManyRequests:
						refused++
					default:
						t.Fatalf("a watch of the first token got %d", code)
					}
				case <-deadline:
					t.Fatalf("after %s, %d of the first token's %d watches were served and %d refused: the rest hang",
						patience, served, held, refused)
				}
			}
			require.Equal(t, min(maxStreams, held), served)
			require.Equal(t, held-served, refused)

			// The other token, while the first holds its streams.
			start := time.Now()
			other := make(chan int, 1)
			go restWatch(ctx, client, s.http, hardOther, other)
			select {
			case code := <-other:
				require.Equal(t, http.StatusOK, code)
			case <-time.After(patience):
				t.Fatal("the other token's REST watch was not answered")
			}
			octx, ocancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+hardOther), patience)
			defer ocancel()
			stream, err := pb.NewWatchServiceClient(s.conn).Watch(octx, &pb.WatchRequest{})
			require.NoError(t, err)
			m, err := stream.Recv()
			require.NoError(t, err)
			require.Equal(t, int64(1), m.GetCursor())
			_, err = pb.NewAuditServiceClient(s.conn).GetChainHead(octx, &pb.GetChainHeadRequest{})
			require.NoError(t, err)
			rctx, rcancel := context.WithTimeout(ctx, patience)
			defer rcancel()
			req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.http+"/v1/journal/head", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+hardOther)
			resp, err := client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			t.Logf("first token: %d watches held, %d refused; the other token's REST watch, gRPC watch and reads answered in %s",
				served, refused, time.Since(start).Round(time.Millisecond))
			if maxStreams < held {
				// Over gRPC the first token is past its cap too, and told so.
				actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+hardAdmin)
				stream, err := pb.NewWatchServiceClient(s.conn).Watch(actx, &pb.WatchRequest{})
				require.NoError(t, err)
				_, err = stream.Recv()
				require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
				require.Contains(t, status.Convert(err).Message(), fmt.Sprintf("may hold %d at once", maxStreams))
			}
		})
	}
}
