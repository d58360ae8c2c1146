{{/* Name of the metrics port: https-metrics when it serves TLS (metrics.tls.secretName), so that
meshes and tools that read the protocol from the port name do not expect plain HTTP. */}}
{{- define "studio-operator.metricsPortName" -}}
{{- if .Values.metrics.tls.secretName }}https-metrics{{ else }}http-metrics{{ end }}
{{- end }}

{{/* Where the metrics TLS Secret is mounted in the operator container. */}}
{{- define "studio-operator.metricsTlsDir" -}}
/etc/studio-operator/metrics-tls
{{- end }}
