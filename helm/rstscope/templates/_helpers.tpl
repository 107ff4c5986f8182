{{/* The chart name, overridable. */}}
{{- define "rstscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* release-chart, unless the release name already contains the chart name. */}}
{{- define "rstscope.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "rstscope.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "rstscope.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels of every object; pass (dict "ctx" $ "component" "agent"). */}}
{{- define "rstscope.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{ include "rstscope.selectorLabels" . }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select one component's pods; never change them after a release. */}}
{{- define "rstscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rstscope.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rstscope.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The RSTSCOPE_NATS variable both the agent and the collector read. */}}
{{- define "rstscope.natsEnv" -}}
- name: RSTSCOPE_NATS
{{- if .Values.nats.bundled.enabled }}
  value: {{ printf "nats://%s-nats:4222" (include "rstscope.fullname" .) | quote }}
{{- else if .Values.nats.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.existingSecret }}
      key: {{ .Values.nats.existingSecretKey }}
{{- else }}
  value: {{ .Values.nats.url | quote }}
{{- end }}
{{- end }}

{{- define "rstscope.clickhouseSecretName" -}}
{{- default (printf "%s-clickhouse" (include "rstscope.fullname" .)) .Values.clickhouse.existingSecret }}
{{- end }}

{{/*
NATS TLS and credentials (docs/security.md), for the agent ("role" agent) and the
collector ("role" collector): the flags, the mounts and the volumes. Files sit under
/etc/rstscope/nats-*; an agent's seed is its node's (agent-<node>.nk).
*/}}
{{- define "rstscope.natsSecurityArgs" -}}
{{- $v := .ctx.Values.nats }}
{{- if $v.tls.caSecret }}
- --nats-ca=/etc/rstscope/nats-ca/ca.crt
{{- end }}
{{- if $v.tls.clientSecret }}
- --nats-cert=/etc/rstscope/nats-client/tls.crt
- --nats-key=/etc/rstscope/nats-client/tls.key
{{- end }}
{{- if eq .role "agent" }}
{{- if $v.auth.agentSeedHostPath }}
- --nats-nkey=/etc/rstscope/nats-auth/agent.nk
{{- else if $v.auth.agentSecret }}
- --nats-nkey=/etc/rstscope/nats-auth/agent-$(NODE_NAME).nk
{{- end }}
{{- else if $v.auth.collectorSecret }}
- --nats-nkey=/etc/rstscope/nats-auth/{{ $v.auth.collectorKey }}
{{- end }}
{{- end }}

{{- define "rstscope.natsSecurityMounts" -}}
{{- $v := .ctx.Values.nats }}
{{- if $v.tls.caSecret }}
- name: nats-ca
  mountPath: /etc/rstscope/nats-ca
  readOnly: true
{{- end }}
{{- if $v.tls.clientSecret }}
- name: nats-client
  mountPath: /etc/rstscope/nats-client
  readOnly: true
{{- end }}
{{- if eq .role "agent" }}
{{- if $v.auth.agentSeedHostPath }}
# This node's own seed, placed on the node by its provisioning: no pod sees another's.
- name: nats-auth
  mountPath: /etc/rstscope/nats-auth/agent.nk
  readOnly: true
{{- else if $v.auth.agentSecret }}
# Every node's seed: the agent uses its own node's (see docs/security.md for what this
# does and does not protect against).
- name: nats-auth
  mountPath: /etc/rstscope/nats-auth
  readOnly: true
{{- end }}
{{- else if $v.auth.collectorSecret }}
- name: nats-auth
  mountPath: /etc/rstscope/nats-auth
  readOnly: true
{{- end }}
{{- end }}

{{- define "rstscope.natsSecurityVolumes" -}}
{{- $v := .ctx.Values.nats }}
{{- if $v.tls.caSecret }}
- name: nats-ca
  secret:
    secretName: {{ $v.tls.caSecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- if $v.tls.clientSecret }}
- name: nats-client
  secret:
    secretName: {{ $v.tls.clientSecret }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if eq .role "agent" }}
{{- if $v.auth.agentSeedHostPath }}
- name: nats-auth
  hostPath:
    path: {{ $v.auth.agentSeedHostPath }}
    type: File
{{- else if $v.auth.agentSecret }}
- name: nats-auth
  secret:
    secretName: {{ $v.auth.agentSecret }}
    # Root only: the agent runs as uid 0 (without CAP_DAC_OVERRIDE).
    defaultMode: 0400
{{- end }}
{{- else if $v.auth.collectorSecret }}
- name: nats-auth
  secret:
    secretName: {{ $v.auth.collectorSecret }}
    items:
      - key: {{ $v.auth.collectorKey }}
        path: {{ $v.auth.collectorKey }}
{{- end }}
{{- end }}
