package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestPagesCarryStrictHeaders(t *testing.T) {
	for _, p := range []string{"/console/", "/console/app.js", "/console/console.css", "/console/nothing-here"} {
		resp := get(t, http.MethodGet, p)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "connect-src 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: CSP %q relaxes itself", p, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", p, k, got, want)
			}
		}
	}
}

func TestServesTheEmbeddedFilesOnly(t *testing.T) {
	for path, typ := range map[string]string{"/console/": "text/html", "/console/app.js": "text/javascript", "/console/console.css": "text/css", "/console/icon.svg": "image/svg+xml"} {
		resp := get(t, http.MethodGet, path)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), typ) {
			t.Errorf("%s: %d %q, want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), typ)
		}
	}
	if resp := get(t, http.MethodGet, "/console/../go.mod"); resp.StatusCode == http.StatusOK {
		t.Error("a path outside the embedded files was served")
	}
	if resp := get(t, http.MethodGet, "/console/nope.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing file: %d, want 404", resp.StatusCode)
	}
	if resp := get(t, http.MethodPost, "/console/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

// The CSP forbids inline script and style; the files must not need them,
// must fetch nothing from elsewhere, and must not write HTML from strings
// (which is how data from a provider would become markup) or log (which
// is how a token would reach a log).
func TestFilesNeedNothingTheHeadersForbid(t *testing.T) {
	forbidden := map[string]*regexp.Regexp{
		"inline script":          regexp.MustCompile(`<script[^>]*>\s*[^<\s]`),
		"script without src":     regexp.MustCompile(`<script(\s+(type|async|defer)(="[^"]*")?)*\s*>`),
		"inline style":           regexp.MustCompile(`(?i)<style|\sstyle\s*=|setAttribute\(\s*['"]style|\.style\.|cssText`),
		"inline event handler":   regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`),
		"HTML from strings":      regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`),
		"logging":                regexp.MustCompile(`console\.(log|info|warn|error|debug)`),
		"remote address":         regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`),
		"token in local storage": regexp.MustCompile(`localStorage`),
	}
	svgNS := regexp.MustCompile(`http://www\.w3\.org/2000/svg`)
	files := 0
	err := fs.WalkDir(static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		raw, err := fs.ReadFile(static, path)
		if err != nil {
			return err
		}
		text := svgNS.ReplaceAllString(string(raw), "")
		for what, re := range forbidden {
			if loc := re.FindStringIndex(text); loc != nil {
				t.Errorf("%s: %s: %q", path, what, text[loc[0]:min(loc[1]+20, len(text))])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("walked %d files", files)
	}
}
