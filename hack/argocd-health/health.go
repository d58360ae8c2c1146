// Package argocdhealth runs Argo CD resource health checks (health.lua) the
// way Argo CD does, with the Lua interpreter Argo CD embeds
// (github.com/yuin/gopher-lua), so that the checks in gitops/argocd can be
// tested without Argo CD. `go test ./...` in this module runs every
// health_test.yaml under gitops/argocd/resource_customizations and checks that
// gitops/argocd/argocd-cm-snippet.yaml holds the same scripts.
//
// Mirrors argo-cd util/lua/lua.go (VM.runLua, VM.ExecuteHealthLua, decodeValue)
// in its strict mode, the one Argo CD uses for health checks set in argocd-cm
// without `useOpenLibs`: only the base, package and table libraries are open
// (no string, math, io or os), and a script has one second to run.
package argocdhealth

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Health codes Argo CD accepts from a health script.
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Suspended   = "Suspended"
	Missing     = "Missing"
	Unknown     = "Unknown"
)

// invalidHealthStatus is the message Argo CD reports for an unknown status code.
const invalidHealthStatus = "Lua returned an invalid health status"

// HealthStatus is what a health script returns (Argo CD's health.HealthStatus).
type HealthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Options of a run.
type Options struct {
	// OpenLibs opens every standard library, as Argo CD does for its built-in
	// checks and for argocd-cm checks with `useOpenLibs: true`.
	OpenLibs bool
	// Timeout of the script; Argo CD's is one second.
	Timeout time.Duration
}

// ExecuteHealthLua runs script with the global `obj` set to the Lua form of
// obj, and returns the table the script returns, as Argo CD reads it.
func ExecuteHealthLua(obj map[string]interface{}, script string, opts Options) (HealthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !opts.OpenLibs})
	defer l.Close()
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.fn), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return HealthStatus{}, fmt.Errorf("opening Lua library %q: %w", lib.name, err)
		}
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, obj))
	if err := l.DoString(script); err != nil {
		return HealthStatus{}, err
	}
	ret := l.Get(-1)
	table, ok := ret.(*lua.LTable)
	if !ok {
		return HealthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", ret.Type().String())
	}
	// Argo CD encodes the table as JSON and decodes it into health.HealthStatus.
	raw, err := json.Marshal(encodeValue(table))
	if err != nil {
		return HealthStatus{}, err
	}
	var hs HealthStatus
	if err := json.Unmarshal(raw, &hs); err != nil {
		return HealthStatus{}, fmt.Errorf("health script returned %s: %w", raw, err)
	}
	switch hs.Status {
	case Healthy, Progressing, Degraded, Suspended, Missing, Unknown:
		return hs, nil
	}
	return HealthStatus{Status: Unknown, Message: invalidHealthStatus}, nil
}

// decodeValue converts a Kubernetes object (as unstructured JSON) into Lua
// values exactly like Argo CD's decodeValue: maps and slices become tables,
// numbers LNumber, and anything else nil.
func decodeValue(l *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []interface{}:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]interface{}:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// encodeValue converts a Lua value to Go for JSON, like layeh.com/gopher-json
// (which Argo CD uses): a table with only 1..n keys is an array, else an object.
func encodeValue(v lua.LValue) interface{} {
	switch v := v.(type) {
	case lua.LBool:
		return bool(v)
	case lua.LNumber:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil
		}
		return f
	case lua.LString:
		return string(v)
	case *lua.LTable:
		if n := v.MaxN(); n > 0 {
			arr := make([]interface{}, 0, n)
			for i := 1; i <= n; i++ {
				arr = append(arr, encodeValue(v.RawGetInt(i)))
			}
			return arr
		}
		obj := map[string]interface{}{}
		v.ForEach(func(k, val lua.LValue) {
			obj[k.String()] = encodeValue(val)
		})
		return obj
	}
	return nil
}
