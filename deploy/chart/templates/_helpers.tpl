{{/* Labels every object of the chart carries. */}}
{{- define "lockstep.labels" -}}
app.kubernetes.io/name: lockstep-controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The Pods' labels, which the Services, the PDB and the NetworkPolicy select. */}}
{{- define "lockstep.selector" -}}
app.kubernetes.io/name: lockstep-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The namespaces a controller of some namespaces watches (watch.allNamespaces false):
its own and watch.additionalNamespaces, each once, as a YAML list. */}}
{{- define "lockstep.watchedNamespaces" -}}
{{- $namespaces := list .Release.Namespace -}}
{{- range .Values.watch.additionalNamespaces -}}
{{- $namespaces = append $namespaces . -}}
{{- end -}}
{{- toYaml (uniq $namespaces) -}}
{{- end }}

{{/* The rights of one side of the controller (name, rules) granted where it watches: a
ClusterRole and its binding when it watches every namespace, else a Role and a RoleBinding
in each watched namespace. */}}
{{- define "lockstep.scopedRole" -}}
{{- $root := .root -}}
{{- if $root.Values.watch.allNamespaces }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ .name }}
  labels:
    {{- include "lockstep.labels" $root | nindent 4 }}
rules:
  {{- .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .name }}
  labels:
    {{- include "lockstep.labels" $root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: lockstep-controller
    namespace: {{ $root.Release.Namespace }}
{{- else }}
{{- range $i, $namespace := include "lockstep.watchedNamespaces" $root | fromYamlArray }}
{{- if $i }}
---
{{- end }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $.name }}
  namespace: {{ $namespace }}
  labels:
    {{- include "lockstep.labels" $root | nindent 4 }}
rules:
  {{- $.rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $.name }}
  namespace: {{ $namespace }}
  labels:
    {{- include "lockstep.labels" $root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $.name }}
subjects:
  - kind: ServiceAccount
    name: lockstep-controller
    namespace: {{ $root.Release.Namespace }}
{{- end }}
{{- end }}
{{- end }}
