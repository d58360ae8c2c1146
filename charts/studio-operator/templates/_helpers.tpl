{{/* Chart name, overridable. */}}
{{- define "studio-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's resources (63 characters max, DNS label). */}}
{{- define "studio-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version */}}
{{- define "studio-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "studio-operator.labels" -}}
helm.sh/chart: {{ include "studio-operator.chart" . }}
{{ include "studio-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: studio-operator
{{- end }}

{{/* Selector labels (immutable in a Deployment: never add to these). */}}
{{- define "studio-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "studio-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the ServiceAccount. */}}
{{- define "studio-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "studio-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference. */}}
{{- define "studio-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Username of the operator's ServiceAccount, as the API server authenticates it. */}}
{{- define "studio-operator.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "studio-operator.serviceAccountName" .) }}
{{- end }}

{{/* Who may make the changes the admission policy restricts: the end of its messages. */}}
{{- define "studio-operator.admission.whoMay" -}}
{{- $groups := .Values.admission.approverGroups | default list }}
{{- if eq (len $groups) 0 }}
{{- "only the operator itself may do this (admission.approverGroups is empty)" }}
{{- else if eq (len $groups) 1 }}
{{- printf "only members of the group %s may do this" (first $groups) }}
{{- else }}
{{- printf "only members of the groups %s may do this" (join ", " $groups) }}
{{- end }}
{{- end }}

{{/* The operator's rules for the namespaced kinds: in its ClusterRole, or (operator.watchNamespaces)
in a Role per watched namespace. */}}
{{- define "studio-operator.namespacedRules" -}}
# The custom resources: watched, and finalizers added/removed with patches.
- apiGroups: ["studio-operator.io"]
  resources: ["studiodomains", "userprofiles", "sharedspaces", "studiolifecycleconfigs", "studioimages"]
  verbs: ["get", "list", "watch", "patch"]
# Status is written with server-side apply (a patch).
- apiGroups: ["studio-operator.io"]
  resources: ["studiodomains/status", "userprofiles/status", "sharedspaces/status", "studiolifecycleconfigs/status", "studioimages/status"]
  verbs: ["patch"]
# Needed when the OwnerReferencesPermissionEnforcement admission plugin is on.
- apiGroups: ["studio-operator.io"]
  resources: ["studiodomains/finalizers", "userprofiles/finalizers", "sharedspaces/finalizers", "studiolifecycleconfigs/finalizers", "studioimages/finalizers"]
  verbs: ["update", "patch"]
# Kubernetes Events (kube-runtime's Recorder uses events.k8s.io/v1).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# A StudioLifecycleConfig's `scriptFrom`: one named ConfigMap of its own namespace, read by
# name (no list or watch, so no ConfigMap contents are cached).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
{{- end }}
