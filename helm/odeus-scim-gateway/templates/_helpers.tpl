{{- define "gw.name" -}}{{ .Release.Name }}-odeus-scim-gateway{{- end -}}
{{- define "gw.labels" -}}
app.kubernetes.io/name: odeus-scim-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "gw.selector" -}}
app.kubernetes.io/name: odeus-scim-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "gw.apiKeySecret" -}}{{ .Values.secrets.existingOdeusApiKeySecret | default (printf "%s-odeus" (include "gw.name" .)) }}{{- end -}}
{{- define "gw.apiKeySecretKey" -}}{{ if .Values.secrets.existingOdeusApiKeySecret }}{{ .Values.secrets.existingOdeusApiKeySecretKey }}{{ else }}api-key{{ end }}{{- end -}}
{{- define "gw.tokensSecret" -}}{{ .Values.secrets.existingScimTokensSecret | default (printf "%s-tokens" (include "gw.name" .)) }}{{- end -}}
{{- define "gw.tokensSecretKey" -}}{{ if .Values.secrets.existingScimTokensSecret }}{{ .Values.secrets.existingScimTokensSecretKey }}{{ else }}tokens{{ end }}{{- end -}}
{{/*
The gateway's external URL (GATEWAY_PUBLIC_URL), never empty: without it the gateway would copy each
request's Host header into meta.location. gateway.publicUrl if set; else https://gateway.externalHost
(the name the IdP uses, e.g. the ingress host); else the in-cluster Service URL (deployment mode) or
the loopback address the sidecar listens on.
*/}}
{{- define "gw.publicUrl" -}}
{{- if .Values.gateway.publicUrl -}}
{{ .Values.gateway.publicUrl }}
{{- else if .Values.gateway.externalHost -}}
https://{{ .Values.gateway.externalHost }}
{{- else if eq .Values.mode "sidecar" -}}
{{ include "gw.scheme" . | lower }}://127.0.0.1:{{ .Values.gateway.port }}
{{- else -}}
{{ include "gw.scheme" . | lower }}://{{ include "gw.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.service.port }}
{{- end -}}
{{- end -}}
{{/* "true" when the gateway runs on PostgreSQL (database.url or database.existingSecret), else "". */}}
{{- define "gw.postgres" -}}{{ if or .Values.database.url .Values.database.existingSecret }}true{{ end }}{{- end -}}
{{- define "gw.databaseSecret" -}}{{ .Values.database.existingSecret | default (printf "%s-database" (include "gw.name" .)) }}{{- end -}}
{{- define "gw.databaseSecretKey" -}}{{ if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}url{{ end }}{{- end -}}
{{- define "gw.scheme" -}}{{ if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end }}{{- end -}}

{{/* The gateway container, shared by the Deployment and the sidecar snippet. */}}
{{- define "gw.container" -}}
- name: gateway
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  env:
    - name: GATEWAY_LISTEN
      value: "{{ if eq .Values.mode "sidecar" }}127.0.0.1{{ else }}0.0.0.0{{ end }}:{{ .Values.gateway.port }}"
    - name: GATEWAY_DATA_DIR
      value: /data
    - name: GATEWAY_BASE_PATH
      value: {{ .Values.gateway.basePath | quote }}
    - name: GATEWAY_PUBLIC_URL
      value: {{ include "gw.publicUrl" . | quote }}
    - name: GATEWAY_MAX_CONNECTIONS
      value: {{ .Values.gateway.maxConnections | quote }}
    - name: GATEWAY_THREADS
      value: {{ .Values.gateway.threads | quote }}
    - name: GATEWAY_LOG_LEVEL
      value: {{ .Values.gateway.logLevel | quote }}
    - name: GATEWAY_DRY_RUN
      value: {{ .Values.gateway.dryRun | quote }}
    - name: GATEWAY_DEFAULT_ROLE
      value: {{ .Values.gateway.defaultRole | quote }}
    - name: ODEUS_BASE_URL
      value: {{ .Values.gateway.odeusBaseUrl | quote }}
    - name: GATEWAY_UPSTREAM_DEADLINE_MS
      value: {{ .Values.gateway.upstreamDeadlineMs | quote }}
    - name: GATEWAY_SHUTDOWN_GRACE_MS
      value: {{ .Values.gateway.shutdownGraceMs | quote }}
    - name: GATEWAY_RATE_LIMIT
      value: {{ .Values.gateway.rateLimit.perMinute | quote }}
    - name: GATEWAY_RATE_LIMIT_BURST
      value: {{ .Values.gateway.rateLimit.burst | quote }}
    - name: GATEWAY_ALLOW_CIDRS
      value: {{ join "," .Values.gateway.allowCidrs | quote }}
    - name: GATEWAY_TRUSTED_PROXIES
      value: {{ join "," .Values.gateway.trustedProxies | quote }}
    - name: GATEWAY_PROXY_HEADER
      value: {{ .Values.gateway.proxyHeader | quote }}
    - name: ODEUS_API_KEY_FILE
      value: /secrets/odeus/{{ include "gw.apiKeySecretKey" . }}
    - name: SCIM_TOKEN_FILE
      value: /secrets/scim/{{ include "gw.tokensSecretKey" . }}
    {{- if include "gw.postgres" . }}
    # The URL holds the database password: from a mounted Secret, never an env value.
    - name: GATEWAY_DATABASE_URL_FILE
      value: /secrets/database/{{ include "gw.databaseSecretKey" . }}
    # Each replica's own audit chain, /data/audit-<pod name>.jsonl (README, "High availability").
    - name: GATEWAY_REPLICA_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    {{- end }}
    {{- if .Values.tls.enabled }}
    - name: GATEWAY_TLS_CERT
      value: /tls/tls.crt
    - name: GATEWAY_TLS_KEY
      value: /tls/tls.key
    {{- if .Values.tls.clientCaSecretName }}
    - name: GATEWAY_TLS_CLIENT_CA
      value: /tls-client-ca/ca.crt
    {{- end }}
    {{- end }}
    {{- with .Values.gateway.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: http
      containerPort: {{ .Values.gateway.port }}
  {{- if not .Values.tls.clientCaSecretName }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: http
      scheme: {{ include "gw.scheme" . }}
    periodSeconds: 10
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /readyz
      port: http
      scheme: {{ include "gw.scheme" . }}
    periodSeconds: 10
    failureThreshold: 2
  {{- else }}
  {{- /* with mTLS the kubelet has no client certificate: probe the port only */}}
  livenessProbe:
    tcpSocket:
      port: http
    periodSeconds: 10
  readinessProbe:
    tcpSocket:
      port: http
    periodSeconds: 10
  {{- end }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: data
      mountPath: /data
    - name: odeus-api-key
      mountPath: /secrets/odeus
      readOnly: true
    - name: scim-tokens
      mountPath: /secrets/scim
      readOnly: true
    {{- if include "gw.postgres" . }}
    - name: database-url
      mountPath: /secrets/database
      readOnly: true
    {{- end }}
    {{- if .Values.tls.enabled }}
    - name: tls
      mountPath: /tls
      readOnly: true
    {{- if .Values.tls.clientCaSecretName }}
    - name: tls-client-ca
      mountPath: /tls-client-ca
      readOnly: true
    {{- end }}
    {{- end }}
{{- end -}}

{{- define "gw.volumes" -}}
- name: data
{{- if and (include "gw.postgres" .) (not .Values.persistence.existingClaim) }}
  # PostgreSQL holds the data; /data keeps this pod's audit log only, for the pod's life.
  emptyDir: {}
{{- else }}
  persistentVolumeClaim:
    claimName: {{ .Values.persistence.existingClaim | default (printf "%s-data" (include "gw.name" .)) }}
{{- end }}
- name: odeus-api-key
  secret:
    secretName: {{ include "gw.apiKeySecret" . }}
- name: scim-tokens
  secret:
    secretName: {{ include "gw.tokensSecret" . }}
{{- if include "gw.postgres" . }}
- name: database-url
  secret:
    secretName: {{ include "gw.databaseSecret" . }}
{{- end }}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
{{- if .Values.tls.clientCaSecretName }}
- name: tls-client-ca
  secret:
    secretName: {{ .Values.tls.clientCaSecretName }}
{{- end }}
{{- end }}
{{- end -}}
