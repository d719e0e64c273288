"""dashjs"""
