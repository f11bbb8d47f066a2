{{- define "flux-gate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flux-gate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<component>, within the 63-char limit. */}}
{{- define "flux-gate.componentName" -}}
{{- printf "%s-%s" (include "flux-gate.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component -}}
{{- end -}}

{{- define "flux-gate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "flux-gate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flux-gate
{{- end -}}

{{/* Call with (dict "root" $ "component" "api"). */}}
{{- define "flux-gate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flux-gate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "flux-gate.componentLabels" -}}
{{ include "flux-gate.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selects every pod of this release (NetworkPolicies). */}}
{{- define "flux-gate.releaseSelector" -}}
app.kubernetes.io/name: {{ include "flux-gate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flux-gate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flux-gate.componentName" (dict "root" . "component" "operator")) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flux-gate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Pod-level settings shared by every workload. */}}
{{- define "flux-gate.podCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The root filesystem is read-only; Node and libraries may still want a scratch /tmp. */}}
{{- define "flux-gate.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "flux-gate.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
Connection settings for every component. Passwords come from existing Secrets only:
- PostgreSQL: DATABASE_URL carries no password; node-postgres reads PGPASSWORD from the Secret
  (or the whole URL comes from postgres.urlSecret); TLS: flux-gate.postgresEnv.
- Redis: REDIS_URL (single) carries no credentials; REDIS_USERNAME and REDIS_PASSWORD (from its
  Secret) are sent as given, so the password may hold any character. The Sentinels get their own.
- TLS material is mounted read-only from Secrets (flux-gate.redisVolumes) and named by path.
*/}}
{{- define "flux-gate.redisUrl" -}}
{{- $r := .Values.redis -}}
{{- printf "%s://%s:%d/%d" (ternary "rediss" "redis" $r.tls.enabled) $r.host (int $r.port) (int $r.db) -}}
{{- end -}}

{{/* Where the Redis TLS Secrets are mounted in the api and operator containers. */}}
{{- define "flux-gate.redisCaDir" -}}/etc/flux-gate/redis/ca{{- end -}}
{{- define "flux-gate.redisClientDir" -}}/etc/flux-gate/redis/client{{- end -}}

{{/* The Redis user of a component: the operator's own when set, else redis.auth's. Call with (dict "root" $ "component" "api"). */}}
{{- define "flux-gate.redisAuthEnv" -}}
{{- $a := .root.Values.redis.auth -}}
{{- $user := $a.username -}}
{{- $secret := $a.existingSecret -}}
{{- if and (eq .component "operator") $a.operator.username }}{{ $user = $a.operator.username }}{{ end -}}
{{- if and (eq .component "operator") $a.operator.existingSecret.name }}{{ $secret = $a.operator.existingSecret }}{{ end -}}
{{- with $user }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if $secret.name }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret.name }}
      key: {{ $secret.key }}
{{- end }}
{{- end -}}

{{- define "flux-gate.redisTlsEnv" -}}
{{- $t := .Values.redis.tls -}}
{{- if $t.enabled }}
- name: REDIS_TLS
  value: "true"
{{- with $t.caSecret.name }}
- name: REDIS_TLS_CA_FILE
  value: {{ printf "%s/%s" (include "flux-gate.redisCaDir" $) $t.caSecret.key | quote }}
{{- end }}
{{- with $t.clientCertSecret }}
- name: REDIS_TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" (include "flux-gate.redisClientDir" $) | quote }}
- name: REDIS_TLS_KEY_FILE
  value: {{ printf "%s/tls.key" (include "flux-gate.redisClientDir" $) | quote }}
{{- end }}
{{- with $t.serverName }}
- name: REDIS_TLS_SERVERNAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes and mounts of the Redis TLS Secrets (api and operator only); nothing when TLS is off. */}}
{{- define "flux-gate.redisVolumes" -}}
{{- $t := .Values.redis.tls -}}
{{- if and $t.enabled $t.caSecret.name }}
- name: redis-ca
  secret:
    secretName: {{ $t.caSecret.name }}
    defaultMode: 0440
    items:
      - key: {{ $t.caSecret.key }}
        path: {{ $t.caSecret.key }}
{{- end }}
{{- if and $t.enabled $t.clientCertSecret }}
- name: redis-client-cert
  secret:
    secretName: {{ $t.clientCertSecret }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end -}}

{{- define "flux-gate.redisMounts" -}}
{{- $t := .Values.redis.tls -}}
{{- if and $t.enabled $t.caSecret.name }}
- name: redis-ca
  mountPath: {{ include "flux-gate.redisCaDir" . }}
  readOnly: true
{{- end }}
{{- if and $t.enabled $t.clientCertSecret }}
- name: redis-client-cert
  mountPath: {{ include "flux-gate.redisClientDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "flux-gate.databaseUrl" -}}
{{- $p := .Values.postgres -}}
{{- printf "postgres://%s@%s:%d/%s" $p.user $p.host (int $p.port) $p.database -}}
{{- end -}}

{{/*
PostgreSQL for every component (each opens a pool through core/postgres/connection.ts): the URL
from values or from postgres.urlSecret, the password from postgres.existingSecret, and TLS as
PG_SSLMODE plus files mounted read-only from Secrets (flux-gate.postgresTlsVolumes / Mounts).
*/}}
{{- define "flux-gate.postgresEnv" -}}
{{- $p := .Values.postgres -}}
{{- if $p.urlSecret.name }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $p.urlSecret.name }}
      key: {{ $p.urlSecret.key }}
{{- else }}
- name: DATABASE_URL
  value: {{ include "flux-gate.databaseUrl" . | quote }}
{{- end }}
{{- with $p.existingSecret }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $p.existingSecretPasswordKey }}
{{- end }}
{{- with $p.tls.sslmode }}
- name: PG_SSLMODE
  value: {{ . | quote }}
{{- end }}
{{- if $p.tls.caSecret.name }}
- name: PG_SSLROOTCERT
  value: /etc/flux-gate/postgres/ca/ca.crt
{{- end }}
{{- if $p.tls.clientCertSecret }}
- name: PG_SSLCERT
  value: /etc/flux-gate/postgres/client/tls.crt
- name: PG_SSLKEY
  value: /etc/flux-gate/postgres/client/tls.key
{{- end }}
{{- end -}}

{{/* Secret volumes of the PostgreSQL CA and client certificate (0440: readable through fsGroup, not by others). */}}
{{- define "flux-gate.postgresTlsVolumes" -}}
{{- $t := .Values.postgres.tls -}}
{{- if $t.caSecret.name }}
- name: postgres-ca
  secret:
    secretName: {{ $t.caSecret.name }}
    items:
      - key: {{ $t.caSecret.key }}
        path: ca.crt
{{- end }}
{{- with $t.clientCertSecret }}
- name: postgres-client-cert
  secret:
    secretName: {{ . }}
    defaultMode: 288 # 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
{{- end -}}

{{- define "flux-gate.postgresTlsMounts" -}}
{{- $t := .Values.postgres.tls -}}
{{- if $t.caSecret.name }}
- name: postgres-ca
  mountPath: /etc/flux-gate/postgres/ca
  readOnly: true
{{- end }}
{{- if $t.clientCertSecret }}
- name: postgres-client-cert
  mountPath: /etc/flux-gate/postgres/client
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The variables each component reads (its VarSpec table in core/, api/, worker/ or operator/; e2e/helm/env-contract.test.ts
checks both ways). Call with (dict "root" $ "component" "api").
*/}}
{{- define "flux-gate.connectionEnv" -}}
{{- $v := .root.Values -}}
{{- $c := .component -}}
{{- $kafka := has $c (list "api" "worker" "operator") -}}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- if has $c (list "api" "operator") }}
{{- include "flux-gate.redisAuthEnv" . }}
{{- include "flux-gate.redisTlsEnv" .root }}
{{- if eq $v.redis.mode "single" }}
- name: REDIS_URL
  value: {{ include "flux-gate.redisUrl" .root | quote }}
{{- else if eq $v.redis.mode "sentinel" }}
- name: REDIS_SENTINELS
  value: {{ join "," $v.redis.sentinel.endpoints | quote }}
- name: REDIS_SENTINEL_MASTER
  value: {{ $v.redis.sentinel.masterName | quote }}
{{- with $v.redis.sentinel.auth.username }}
- name: REDIS_SENTINEL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- with $v.redis.sentinel.auth.existingSecret.name }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.redis.sentinel.auth.existingSecret.key }}
{{- end }}
{{- else }}
- name: REDIS_CLUSTER_NODES
  value: {{ join "," $v.redis.cluster.nodes | quote }}
{{- end }}
{{- end }}
{{- include "flux-gate.postgresEnv" .root }}
{{- if $kafka }}
- name: KAFKA_BROKERS
  value: {{ join "," $v.kafka.brokers | quote }}
- name: KAFKA_CLIENT_ID
  value: {{ $v.kafka.clientId | quote }}
- name: ORDERS_TOPIC
  value: {{ $v.kafka.ordersTopic | quote }}
{{- include "flux-gate.kafkaSecurityEnv" (dict "root" .root "component" $c) }}
{{- end }}
{{- if has $c (list "api" "worker") }}
- name: ORDERS_TOPIC_PARTITIONS
  value: {{ $v.kafka.ordersTopicPartitions | quote }}
{{- with $v.kafka.ordersTopicReplicationFactor }}
- name: ORDERS_TOPIC_REPLICATION_FACTOR
  value: {{ . | quote }}
{{- end }}
{{- with $v.kafka.ordersTopicMinInsyncReplicas }}
- name: ORDERS_TOPIC_MIN_INSYNC_REPLICAS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if has $c (list "worker" "operator") }}
- name: KAFKA_GROUP_ID
  value: {{ $v.kafka.groupId | quote }}
{{- end }}
{{- range $name, $value := (get $v $c).extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Probes on the component's HTTP port: /healthz = alive, /readyz = ready to serve (for the api: started and not draining, never Redis/Kafka; see the README's API probes).
Call with (dict "startup" <a component's startupProbe values>) to replace the default 60 s start-up budget (2 s × 30). */}}
{{- define "flux-gate.probes" -}}
{{- $startup := .startup | default (dict "periodSeconds" 2 "failureThreshold" 30) -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  {{- toYaml $startup | nindent 2 }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
{{- end -}}

{{/* Pod template metadata: the component's labels plus podLabels, and podAnnotations.
Call with (dict "root" $ "component" "api"). */}}
{{- define "flux-gate.podMetadata" -}}
{{- $v := get .root.Values .component -}}
labels:
  {{- include "flux-gate.componentLabels" . | nindent 2 }}
  {{- with $v.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $v.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Scheduling of one component's pods. A topology spread constraint without a labelSelector
spreads this component's pods. Call with (dict "root" $ "component" "api"). */}}
{{- define "flux-gate.scheduling" -}}
{{- $v := get .root.Values .component -}}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $v.topologySpreadConstraints }}
{{- $spread := list }}
{{- range $v.topologySpreadConstraints }}
{{- $t := deepCopy . }}
{{- if not $t.labelSelector }}
{{- $_ := set $t "labelSelector" (dict "matchLabels" (include "flux-gate.selectorLabels" $ | fromYaml)) }}
{{- end }}
{{- $spread = append $spread $t }}
{{- end }}
topologySpreadConstraints:
  {{- toYaml $spread | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
TCP ports the data-store egress rule opens, one per line, each once: networkPolicy.dataStorePorts,
then every port the connection settings name (single-mode redis.port, the Sentinel endpoints, the
Cluster seed nodes, the Kafka brokers, postgres.port). Deriving them is what keeps a secured install
(Kafka SASL_SSL on 9093, Redis TLS on 6380) from being fenced off by its own policy.
*/}}
{{- define "flux-gate.dataStorePorts" -}}
{{- $v := .Values -}}
{{- $ports := list -}}
{{- range $v.networkPolicy.dataStorePorts }}{{ $ports = append $ports (int .) }}{{ end -}}
{{- if eq $v.redis.mode "single" }}{{ $ports = append $ports (int $v.redis.port) }}{{ end -}}
{{- if eq $v.redis.mode "sentinel" }}{{ range $v.redis.sentinel.endpoints }}{{ $ports = append $ports (int (last (splitList ":" .))) }}{{ end }}{{ end -}}
{{- if eq $v.redis.mode "cluster" }}{{ range $v.redis.cluster.nodes }}{{ $ports = append $ports (int (last (splitList ":" .))) }}{{ end }}{{ end -}}
{{- range $v.kafka.brokers }}{{ $ports = append $ports (int (last (splitList ":" .))) }}{{ end -}}
{{- $ports = append $ports (int $v.postgres.port) -}}
{{- range uniq $ports }}
{{ . }}
{{- end -}}
{{- end -}}
