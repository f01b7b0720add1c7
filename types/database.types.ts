│
▲  Connected to 127.0.0.1 without TLS: the TLS connection failed or was rejected. Set PGSSLMODE=require (or verify-full) to refuse unencrypted connections.

export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[]

export type Database = {
  
  "public": {
          Tables: {
            "audit_events": {
                  Row: {
                    "action": string,"actor_auth_id": string | null,"actor_member_id": string | null,"actor_role": string,"after": Json | null,"before": Json | null,"id": string,"occurred_at": string,"seq": number,"subject_id": string | null,"subject_type": string,"tenant_id": string
                  }
                  ComputedFields: never
                  Insert: {
                    "action": string,"actor_auth_id"?: string | null,"actor_member_id"?: string | null,"actor_role": string,"after"?: Json | null,"before"?: Json | null,"id"?: string,"occurred_at"?: string,"seq"?: never,"subject_id"?: string | null,"subject_type": string,"tenant_id": string
                  }
                  Update: {
                    "action"?: string,"actor_auth_id"?: string | null,"actor_member_id"?: string | null,"actor_role"?: string,"after"?: Json | null,"before"?: Json | null,"id"?: string,"occurred_at"?: string,"seq"?: never,"subject_id"?: string | null,"subject_type"?: string,"tenant_id"?: string
                  }
                  Relationships: [
                    
                  ]
                },"conversations": {
                  Row: {
                    "created_at": string,"id": string,"is_archived": boolean,"last_message_at": string | null,"message_count": number,"metadata": NonNullable<Json>,"tenant_id": string,"title": string | null,"updated_at": string,"user_id": string
                  }
                  ComputedFields: never
                  Insert: {
                    "created_at"?: string,"id"?: string,"is_archived"?: boolean,"last_message_at"?: string | null,"message_count"?: number,"metadata"?: NonNullable<Json>,"tenant_id": string,"title"?: string | null,"updated_at"?: string,"user_id": string
                  }
                  Update: {
                    "created_at"?: string,"id"?: string,"is_archived"?: boolean,"last_message_at"?: string | null,"message_count"?: number,"metadata"?: NonNullable<Json>,"tenant_id"?: string,"title"?: string | null,"updated_at"?: string,"user_id"?: string
                  }
                  Relationships: [
                    {
      foreignKeyName: "conversations_tenant_id_user_id_fkey"
      columns: ["tenant_id","user_id"]
isOneToOne: false
      referencedRelation: "users"
      referencedColumns: ["tenant_id","id"]
    }
                  ]
                },"feedback": {
                  Row: {
                    "comment": string | null,"created_at": string,"id": string,"message_id": string,"rating": number,"tenant_id": string,"updated_at": string,"user_id": string
                  }
                  ComputedFields: never
                  Insert: {
                    "comment"?: string | null,"created_at"?: string,"id"?: string,"message_id": string,"rating": number,"tenant_id": string,"updated_at"?: string,"user_id": string
                  }
                  Update: {
                    "comment"?: string | null,"created_at"?: string,"id"?: string,"message_id"?: string,"rating"?: number,"tenant_id"?: string,"updated_at"?: string,"user_id"?: string
                  }
                  Relationships: [
                    {
      foreignKeyName: "feedback_tenant_id_message_id_fkey"
      columns: ["tenant_id","message_id"]
isOneToOne: false
      referencedRelation: "messages"
      referencedColumns: ["tenant_id","id"]
    },{
      foreignKeyName: "feedback_tenant_id_user_id_fkey"
      columns: ["tenant_id","user_id"]
isOneToOne: false
      referencedRelation: "users"
      referencedColumns: ["tenant_id","id"]
    }
                  ]
                },"invitations": {
                  Row: {
                    "accepted_at": string | null,"created_at": string,"email": string,"expires_at": string,"id": string,"invited_by": string | null,"member_id": string | null,"role": string,"sent_by_service": boolean,"tenant_id": string
                  }
                  ComputedFields: never
                  Insert: {
                    "accepted_at"?: string | null,"created_at"?: string,"email": string,"expires_at": string,"id"?: string,"invited_by"?: string | null,"member_id"?: string | null,"role"?: string,"sent_by_service"?: boolean,"tenant_id": string
                  }
                  Update: {
                    "accepted_at"?: string | null,"created_at"?: string,"email"?: string,"expires_at"?: string,"id"?: string,"invited_by"?: string | null,"member_id"?: string | null,"role"?: string,"sent_by_service"?: boolean,"tenant_id"?: string
                  }
                  Relationships: [
                    {
      foreignKeyName: "invitations_tenant_id_fkey"
      columns: ["tenant_id"]
isOneToOne: false
      referencedRelation: "tenants"
      referencedColumns: ["id"]
    },{
      foreignKeyName: "invitations_tenant_id_invited_by_fkey"
      columns: ["tenant_id","invited_by"]
isOneToOne: false
      referencedRelation: "users"
      referencedColumns: ["tenant_id","id"]
    },{
      foreignKeyName: "invitations_tenant_id_member_id_fkey"
      columns: ["tenant_id","member_id"]
isOneToOne: false
      referencedRelation: "users"
      referencedColumns: ["tenant_id","id"]
    }
                  ]
                },"messages": {
                  Row: {
                    "completed_at": string | null,"completion_tokens": number | null,"content": string,"conversation_id": string,"cost_usd": number | null,"created_at": string,"id": string,"latency_ms": number | null,"metadata": NonNullable<Json>,"metered_at": string | null,"model": string | null,"prompt_tokens": number | null,"reserved_tokens": number | null,"role": string,"seq": number,"status": string,"status_reason": string | null,"streamed_at": string | null,"tenant_id": string,"token_count": number | null,"tool_calls": Json | null,"user_id": string
                  }
                  ComputedFields: never
                  Insert: {
                    "completed_at"?: string | null,"completion_tokens"?: number | null,"content": string,"conversation_id": string,"cost_usd"?: number | null,"created_at"?: string,"id"?: string,"latency_ms"?: number | null,"metadata"?: NonNullable<Json>,"metered_at"?: string | null,"model"?: string | null,"prompt_tokens"?: number | null,"reserved_tokens"?: number | null,"role": string,"seq"?: number,"status"?: string,"status_reason"?: string | null,"streamed_at"?: string | null,"tenant_id": string,"token_count"?: number | null,"tool_calls"?: Json | null,"user_id": string
                  }
                  Update: {
                    "completed_at"?: string | null,"completion_tokens"?: number | null,"content"?: string,"conversation_id"?: string,"cost_usd"?: number | null,"created_at"?: string,"id"?: string,"latency_ms"?: number | null,"metadata"?: NonNullable<Json>,"metered_at"?: string | null,"model"?: string | null,"prompt_tokens"?: number | null,"reserved_tokens"?: number | null,"role"?: string,"seq"?: number,"status"?: string,"status_reason"?: string | null,"streamed_at"?: string | null,"tenant_id"?: string,"token_count"?: number | null,"tool_calls"?: Json | null,"user_id"?: string
                  }
                  Relationships: [
                    {
      foreignKeyName: "messages_tenant_id_conversation_id_fkey"
      columns: ["tenant_id","conversation_id"]
isOneToOne: false
      referencedRelation: "conversations"
      referencedColumns: ["tenant_id","id"]
    },{
      foreignKeyName: "messages_tenant_id_user_id_fkey"
      columns: ["tenant_id","user_id"]
isOneToOne: false
      referencedRelation: "users"
      referencedColumns: ["tenant_id","id"]
    }
                  ]
                },"tenants": {
                  Row: {
                    "created_at": string,"id": string,"is_active": boolean,"name": string,"plan": string,"settings": NonNullable<Json>,"slug": string,"updated_at": string
                  }
                  ComputedFields: never
                  Insert: {
                    "created_at"?: string,"id"?: string,"is_active"?: boolean,"name": string,"plan"?: string,"settings"?: NonNullable<Json>,"slug": string,"updated_at"?: string
                  }
                  Update: {
                    "created_at"?: string,"id"?: string,"is_active"?: boolean,"name"?: string,"plan"?: string,"settings"?: NonNullable<Json>,"slug"?: string,"updated_at"?: string
                  }
                  Relationships: [
                    
                  ]
                },"usage_metrics": {
                  Row: {
                    "completion_tokens": number,"cost_usd": number,"prompt_tokens": number,"request_count": number,"tenant_id": string,"total_tokens": number | null,"updated_at": string,"usage_date": string,"user_id": string
                  }
                  ComputedFields: never
                  Insert: {
                    "completion_tokens"?: number,"cost_usd"?: number,"prompt_tokens"?: number,"request_count"?: number,"tenant_id": string,"total_tokens"?: never,"updated_at"?: string,"usage_date"?: string,"user_id": string
                  }
                  Update: {
                    "completion_tokens"?: number,"cost_usd"?: number,"prompt_tokens"?: number,"request_count"?: number,"tenant_id"?: string,"total_tokens"?: never,"updated_at"?: string,"usage_date"?: string,"user_id"?: string
                  }
                  Relationships: [
                    {
      foreignKeyName: "usage_metrics_tenant_id_user_id_fkey"
      columns: ["tenant_id","user_id"]
isOneToOne: false
      referencedRelation: "users"
      referencedColumns: ["tenant_id","id"]
    }
                  ]
                },"users": {
                  Row: {
                    "auth_id": string | null,"created_at": string,"display_name": string | null,"email": string,"id": string,"is_active": boolean,"role": string,"tenant_id": string,"updated_at": string
                  }
                  ComputedFields: never
                  Insert: {
                    "auth_id"?: string | null,"created_at"?: string,"display_name"?: string | null,"email": string,"id"?: string,"is_active"?: boolean,"role"?: string,"tenant_id": string,"updated_at"?: string
                  }
                  Update: {
                    "auth_id"?: string | null,"created_at"?: string,"display_name"?: string | null,"email"?: string,"id"?: string,"is_active"?: boolean,"role"?: string,"tenant_id"?: string,"updated_at"?: string
                  }
                  Relationships: [
                    {
      foreignKeyName: "users_tenant_id_fkey"
      columns: ["tenant_id"]
isOneToOne: false
      referencedRelation: "tenants"
      referencedColumns: ["id"]
    }
                  ]
                }
          }
          Views: {
            "current_day_usage": {
                  Row: {
                    "completion_tokens": number,"cost_usd": number,"prompt_tokens": number,"request_count": number,"tenant_id": string,"total_tokens": number | null,"updated_at": string,"usage_date": string,"user_id": string
                  }
                  ComputedFields: never
                  Insert: {
                           "completion_tokens"?: number | null,"cost_usd"?: number | null,"prompt_tokens"?: number | null,"request_count"?: number | null,"tenant_id"?: string | null,"total_tokens"?: number | null,"updated_at"?: string | null,"usage_date"?: string | null,"user_id"?: string | null
                         }
                        Update: {
                           "completion_tokens"?: number | null,"cost_usd"?: number | null,"prompt_tokens"?: number | null,"request_count"?: number | null,"tenant_id"?: string | null,"total_tokens"?: number | null,"updated_at"?: string | null,"usage_date"?: string | null,"user_id"?: string | null
                         }
                        Relationships: [
                    {
      foreignKeyName: "usage_metrics_tenant_id_user_id_fkey"
      columns: ["tenant_id","user_id"]
isOneToOne: false
      referencedRelation: "users"
      referencedColumns: ["tenant_id","id"]
    }
                  ]
                }
          }
          Functions: {
            "accept_invitation":
{ Args: { "p_token": string }; Returns: {
              "auth_id": string | null,
"created_at": string,
"display_name": string | null,
"email": string,
"id": string,
"is_active": boolean,
"role": string,
"tenant_id": string,
"updated_at": string
            }
                          SetofOptions: {
        from: "*"
        to: "users"
        isOneToOne: true
        isSetofReturn: false
      } },
"append_message_text":
{ Args: { "p_member_id"?: string,"p_message_id": string,"p_tenant_id": string,"p_text": string }; Returns: number
                           },
"apply_retention":
{ Args: { "p_batch_size"?: number }; Returns: number
                           },
"archive_stale_conversations":
{ Args: { "older_than": string }; Returns: number
                           },
"authorize_export":
{ Args: { "p_kind": string,"p_subject_id"?: string,"p_tenant_id": string }; Returns: undefined
                           },
"close_message":
{ Args: { "p_completion_tokens"?: number,"p_cost_usd"?: number,"p_latency_ms"?: number,"p_member_id"?: string,"p_message_id": string,"p_prompt_tokens"?: number,"p_reason"?: string,"p_status"?: string,"p_tenant_id": string,"p_text"?: string }; Returns: {
              "completed_at": string | null,
"completion_tokens": number | null,
"content": string,
"conversation_id": string,
"cost_usd": number | null,
"created_at": string,
"id": string,
"latency_ms": number | null,
"metadata": NonNullable<Json>,
"metered_at": string | null,
"model": string | null,
"prompt_tokens": number | null,
"reserved_tokens": number | null,
"role": string,
"seq": number,
"status": string,
"status_reason": string | null,
"streamed_at": string | null,
"tenant_id": string,
"token_count": number | null,
"tool_calls": Json | null,
"user_id": string
            }
                          SetofOptions: {
        from: "*"
        to: "messages"
        isOneToOne: true
        isSetofReturn: false
      } },
"close_stale_streams":
{ Args: { "p_idle_for"?: string }; Returns: number
                           },
"erase_conversation":
{ Args: { "p_conversation_id": string,"p_tenant_id": string }; Returns: Json
                           },
"erase_member":
{ Args: { "p_member_id": string,"p_tenant_id": string }; Returns: Json
                           },
"erase_tenant":
{ Args: { "p_tenant_id": string }; Returns: Json
                           },
"increment_usage":
{ Args: { "p_completion_tokens"?: number,"p_cost_usd"?: number,"p_prompt_tokens"?: number,"p_request_count"?: number,"p_tenant_id": string,"p_usage_date"?: string,"p_user_id": string }; Returns: {
              "completion_tokens": number,
"cost_usd": number,
"prompt_tokens": number,
"request_count": number,
"tenant_id": string,
"total_tokens": number | null,
"updated_at": string,
"usage_date": string,
"user_id": string
            }
                          SetofOptions: {
        from: "*"
        to: "usage_metrics"
        isOneToOne: true
        isSetofReturn: false
      } },
"increment_usage_batch":
{ Args: { "p_increments": Json }; Returns: number
                           },
"invite_member":
{ Args: { "p_email": string,"p_role"?: string,"p_tenant_id": string,"p_valid_for"?: string }; Returns: {
              "expires_at": string,"invitation_id": string,"token": string
            }[]
                           },
"message_feedback_summary":
{ Args: { "p_conversation_id"?: string,"p_tenant_id"?: string }; Returns: {
              "conversation_id": string,"conversation_user_id": string,"last_feedback_at": string,"message_id": string,"negative_count": number,"positive_count": number,"score": number,"tenant_id": string,"total_count": number
            }[]
                           },
"monthly_usage_summary":
{ Args: { "p_from"?: string,"p_tenant_id"?: string,"p_to"?: string }; Returns: {
              "active_days": number,"completion_tokens": number,"cost_usd": number,"month": string,"prompt_tokens": number,"request_count": number,"tenant_id": string,"total_tokens": number,"user_id": string
            }[]
                           },
"my_memberships":
{ Args: Record<PropertyKey, never>; Returns: {
              "member_id": string,"role": string,"tenant_id": string,"tenant_name": string,"tenant_slug": string
            }[]
                           },
"open_message":
{ Args: { "p_content"?: string,"p_conversation_id": string,"p_member_id"?: string,"p_metadata"?: Json,"p_model"?: string,"p_reserve_tokens"?: number,"p_role"?: string,"p_tenant_id": string,"p_tool_calls"?: Json }; Returns: {
              "completed_at": string | null,
"completion_tokens": number | null,
"content": string,
"conversation_id": string,
"cost_usd": number | null,
"created_at": string,
"id": string,
"latency_ms": number | null,
"metadata": NonNullable<Json>,
"metered_at": string | null,
"model": string | null,
"prompt_tokens": number | null,
"reserved_tokens": number | null,
"role": string,
"seq": number,
"status": string,
"status_reason": string | null,
"streamed_at": string | null,
"tenant_id": string,
"token_count": number | null,
"tool_calls": Json | null,
"user_id": string
            }
                          SetofOptions: {
        from: "*"
        to: "messages"
        isOneToOne: true
        isSetofReturn: false
      } },
"record_export":
{ Args: { "p_format": string,"p_kind": string,"p_row_counts": Json,"p_subject_id": string,"p_tenant_id": string }; Returns: string
                           },
"record_turn":
{ Args: { "p_assistant_content": string,"p_completion_tokens"?: number,"p_conversation_id": string,"p_cost_usd"?: number,"p_idempotency_key"?: string,"p_latency_ms"?: number,"p_member_id"?: string,"p_model"?: string,"p_prompt_tokens"?: number,"p_tenant_id": string,"p_user_content": string }; Returns: {
              "completed_at": string | null,
"completion_tokens": number | null,
"content": string,
"conversation_id": string,
"cost_usd": number | null,
"created_at": string,
"id": string,
"latency_ms": number | null,
"metadata": NonNullable<Json>,
"metered_at": string | null,
"model": string | null,
"prompt_tokens": number | null,
"reserved_tokens": number | null,
"role": string,
"seq": number,
"status": string,
"status_reason": string | null,
"streamed_at": string | null,
"tenant_id": string,
"token_count": number | null,
"tool_calls": Json | null,
"user_id": string
            }[]
                          SetofOptions: {
        from: "*"
        to: "messages"
        isOneToOne: false
        isSetofReturn: true
      } },
"redact_message":
{ Args: { "p_message_id": string,"p_reason"?: string,"p_tenant_id": string }; Returns: undefined
                           },
"refresh_summaries":
{ Args: Record<PropertyKey, never>; Returns: undefined
                           },
"search_messages":
{ Args: { "p_conversation_id"?: string,"p_limit"?: number,"p_member_id"?: string,"p_query": string,"p_tenant_id"?: string }; Returns: {
              "completed_at": string | null,
"completion_tokens": number | null,
"content": string,
"conversation_id": string,
"cost_usd": number | null,
"created_at": string,
"id": string,
"latency_ms": number | null,
"metadata": NonNullable<Json>,
"metered_at": string | null,
"model": string | null,
"prompt_tokens": number | null,
"reserved_tokens": number | null,
"role": string,
"seq": number,
"status": string,
"status_reason": string | null,
"streamed_at": string | null,
"tenant_id": string,
"token_count": number | null,
"tool_calls": Json | null,
"user_id": string
            }[]
                          SetofOptions: {
        from: "*"
        to: "messages"
        isOneToOne: false
        isSetofReturn: true
      } },
"set_retention":
{ Args: { "p_archived_conversations_days"?: number,"p_messages_days"?: number,"p_tenant_id": string }; Returns: Json
                           },
"tenant_quota":
{ Args: { "p_tenant_id"?: string }; Returns: {
              "cost_usd": number,"month": string,"monthly_cost_usd": number,"monthly_tokens": number,"plan": string,"requests_per_day": number,"requests_today": number,"tenant_id": string,"tokens_reserved": number,"tokens_used": number
            }[]
                           },
"transfer_ownership":
{ Args: { "p_member_id": string,"p_tenant_id": string }; Returns: {
              "auth_id": string | null,
"created_at": string,
"display_name": string | null,
"email": string,
"id": string,
"is_active": boolean,
"role": string,
"tenant_id": string,
"updated_at": string
            }
                          SetofOptions: {
        from: "*"
        to: "users"
        isOneToOne: true
        isSetofReturn: false
      } }
          }
          Enums: {
            [_ in never]: never
          }
          CompositeTypes: {
            [_ in never]: never
          }
        }
}

type DatabaseWithoutInternals = Omit<Database, '__InternalSupabase'>

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never = never
> = DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
  ? (DefaultSchema["Tables"] & DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
      Row: infer R
    }
    ? R
    : never
  : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never
> = DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
  ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
      Insert: infer I
    }
    ? I
    : never
  : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never
> = DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
  ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
      Update: infer U
    }
    ? U
    : never
  : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never = never
> = DefaultSchemaEnumNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
  ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
  : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never = never
> = PublicCompositeTypeNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
  ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
  : never

export const Constants = {
  "public": {
          Enums: {
            
          }
        }
} as const
