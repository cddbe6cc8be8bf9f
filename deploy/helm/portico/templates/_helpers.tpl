{{- define "portico.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portico.labels" -}}
{{ include "portico.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The checks the chart makes before rendering anything. */}}
{{- define "portico.validate" -}}
{{- if not .Values.issuer -}}
{{- fail "issuer is required: the OpenID Connect issuer URL, e.g. https://id.example.com" -}}
{{- end -}}
{{- if not (has .Values.storage.type (list "badger" "postgres")) -}}
{{- fail (printf "storage.type must be badger or postgres, not %q" .Values.storage.type) -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (ne .Values.storage.type "postgres") -}}
{{- fail "replicaCount > 1 needs storage.type: postgres (Badger allows one process per data directory)" -}}
{{- end -}}
{{- if and (eq .Values.storage.type "postgres") (not .Values.storage.postgres.existingSecret) -}}
{{- fail "storage.type postgres needs storage.postgres.existingSecret: the Secret holding the DSN" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.masterKey.existingSecret) -}}
{{- fail "replicaCount > 1 needs masterKey.existingSecret: every replica must seal with the same connector-master.key" -}}
{{- end -}}
{{- range $k := list "issuer" "listen" "storage" -}}
{{- if hasKey $.Values.config $k -}}
{{- fail (printf "config.%s is set by the chart: use the chart's value instead" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* portico.yaml: config with what the chart decides. */}}
{{- define "portico.config" -}}
{{- $storage := dict "type" .Values.storage.type "dir" "/var/lib/portico" -}}
{{- if and (eq .Values.storage.type "postgres") .Values.storage.postgres.schema -}}
{{- $_ := set $storage "schema" .Values.storage.postgres.schema -}}
{{- end -}}
{{- $ops := merge (dict "listen" (printf "0.0.0.0:%d" (int .Values.ops.port))) (get .Values.config "ops" | default dict) -}}
{{- $chart := dict "issuer" .Values.issuer "listen" "0.0.0.0:8080" "storage" $storage "ops" $ops -}}
{{- toYaml (merge $chart (deepCopy .Values.config)) -}}
{{- end -}}
