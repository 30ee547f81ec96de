{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "nvmf-emu.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, plus the chart name unless it already contains it. */}}
{{- define "nvmf-emu.fullname" -}}
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

{{- define "nvmf-emu.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nvmf-emu.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nvmf-emu.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nvmf-emu.labels" -}}
helm.sh/chart: {{ include "nvmf-emu.chart" . }}
{{ include "nvmf-emu.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nvmf-emu.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "nvmf-emu.pvcName" -}}
{{- default (printf "%s-data" (include "nvmf-emu.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/*
The topology file: .Values.topology as JSON, with the chart's listeners when topology.ports is
empty (portid 1 on the NVMe/TCP port, portid 2 on the discovery port, each exporting every
subsystem).
*/}}
{{- define "nvmf-emu.topology" -}}
{{- $topo := deepCopy .Values.topology }}
{{- if not $topo.ports }}
{{- $nqns := list }}
{{- range .Values.topology.subsystems }}
{{- $nqns = append $nqns .nqn }}
{{- end }}
{{- $nvme := dict "portid" 1 "addr" (dict "trtype" "tcp" "adrfam" "ipv4" "traddr" "0.0.0.0" "trsvcid" (toString .Values.service.ports.nvme)) "subsystems" $nqns }}
{{- $disc := dict "portid" 2 "addr" (dict "trtype" "tcp" "adrfam" "ipv4" "traddr" "0.0.0.0" "trsvcid" (toString .Values.service.ports.discovery)) "subsystems" $nqns }}
{{- $_ := set $topo "ports" (list $nvme $disc) }}
{{- end }}
{{- toPrettyJson $topo }}
{{- end }}

{{/* The address printed in NOTES.txt: advertiseAddress, or a placeholder that says where to find one. */}}
{{- define "nvmf-emu.hostAddress" -}}
{{- if .Values.advertiseAddress }}
{{- .Values.advertiseAddress }}
{{- else if .Values.hostNetwork }}
{{- "<node IP>" }}
{{- else if eq .Values.service.type "LoadBalancer" }}
{{- "<load balancer IP>" }}
{{- else if eq .Values.service.type "NodePort" }}
{{- "<node IP>" }}
{{- else }}
{{- "<service cluster IP>" }}
{{- end }}
{{- end }}
