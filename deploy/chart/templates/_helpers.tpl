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
