// Package config loads paystate's configuration: one YAML file, every key
// of which an environment variable can override, plus the development
// credentials that let a fresh `paystate serve` run safely with no file at
// all.
package config
