package api

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/storage"
)

// toStatus is the one place domain errors become gRPC codes. Unknown
// errors are logged and hidden behind a fixed message.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return status.Error(codes.NotFound, "not found")
	case errors.Is(err, storage.ErrCorrupt):
		log.ErrorContext(ctx, "database corrupted: an operator must repair or restore it; retrying will not help", "err", err)
		return status.Error(codes.DataLoss, "storage corrupted: the database needs repair")
	case errors.Is(err, storage.ErrUnavailable):
		return status.Error(codes.Unavailable, "storage unavailable, retry")
	case errors.Is(err, engine.ErrClosed):
		return status.Error(codes.Unavailable, "shutting down, retry")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return status.Error(codes.Internal, "internal error")
}

// recoverUnary turns a panic into Internal without a stack for the client;
// the stack goes to the log. It runs first in the chain.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return next(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in stream handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return next(srv, ss)
	}
}

// orDefault returns l, or the default logger when l is nil.
func orDefault(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}
